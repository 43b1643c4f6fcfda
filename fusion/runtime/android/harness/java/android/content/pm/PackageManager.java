package android.content.pm;

/** Stand-in for android.content.pm.PackageManager. */
public abstract class PackageManager {
    public static final int GET_SIGNATURES = 0x40;
    public static final String FEATURE_STRONGBOX_KEYSTORE = "android.hardware.strongbox_keystore";

    public abstract PackageInfo getPackageInfo(String packageName, int flags) throws NameNotFoundException;

    /**
     * The device declares StrongBox when -Dharness.strongbox is "yes" or
     * "unavailable" (declared, but key generation in it fails: see
     * trustfuse.harness.AndroidKeyStore); no other feature.
     */
    public boolean hasSystemFeature(String name) {
        String sb = System.getProperty("harness.strongbox", "");
        return FEATURE_STRONGBOX_KEYSTORE.equals(name) && (sb.equals("yes") || sb.equals("unavailable"));
    }

    public static class NameNotFoundException extends Exception {
        public NameNotFoundException(String name) {
            super(name);
        }
    }
}
