package android.content;

/** Stand-in for android.content.ContentResolver (only passed to Settings.Secure). */
public class ContentResolver {
}
