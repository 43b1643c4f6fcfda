package android.util;

/** Stand-in for android.util.Log: writes to stderr. */
public final class Log {
    public static int w(String tag, String msg) {
        System.err.println("W/" + tag + ": " + msg);
        return 0;
    }

    public static int w(String tag, String msg, Throwable tr) {
        System.err.println("W/" + tag + ": " + msg + ": " + tr);
        return 0;
    }
}
