package android.net;

/** Stand-in for android.net.Uri (a ContentProvider signature type). */
public abstract class Uri {
}
