package android.os;

/** Stand-in for android.os.Debug (-Dharness.debugger=true simulates JDWP). */
public final class Debug {
    public static boolean isDebuggerConnected() {
        return Boolean.getBoolean("harness.debugger");
    }
}
