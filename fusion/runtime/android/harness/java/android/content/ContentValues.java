package android.content;

/** Stand-in for android.content.ContentValues (a ContentProvider signature type). */
public final class ContentValues {
}
