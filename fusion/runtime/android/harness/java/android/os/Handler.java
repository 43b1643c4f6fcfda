package android.os;

/** Stand-in for android.os.Handler: post runs the task at once on the caller's thread. */
public class Handler {
    public Handler(Looper looper) {
    }

    public final boolean post(Runnable r) {
        r.run();
        return true;
    }
}
