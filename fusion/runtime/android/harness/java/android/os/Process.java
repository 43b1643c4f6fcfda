package android.os;

/** Stand-in for android.os.Process: killProcess only logs (the runtime then calls System.exit). */
public class Process {
    public static int myPid() {
        return (int) ProcessHandle.current().pid();
    }

    public static void killProcess(int pid) {
        System.err.println("harness: killProcess(" + pid + ")");
    }
}
