package android.content.pm;

/** Stand-in for android.content.pm.PackageManager. */
public abstract class PackageManager {
    public static final int GET_SIGNATURES = 0x40;

    public abstract PackageInfo getPackageInfo(String packageName, int flags) throws NameNotFoundException;

    public static class NameNotFoundException extends Exception {
        public NameNotFoundException(String name) {
            super(name);
        }
    }
}
