package android.os;

/** Stand-in for android.os.Build; each field can be overridden with -Dharness.build.<name>. */
public class Build {
    public static final String FINGERPRINT = prop("fingerprint", "google/oriole/oriole:14/AP2A.240805.005/12025142:user/release-keys");
    public static final String MODEL = prop("model", "Pixel 6");
    public static final String HARDWARE = prop("hardware", "oriole");
    public static final String PRODUCT = prop("product", "oriole");
    public static final String TAGS = prop("tags", "release-keys");
    public static final String MANUFACTURER = prop("manufacturer", "Google");
    public static final String BRAND = prop("brand", "google");

    static String prop(String name, String def) {
        return System.getProperty("harness.build." + name, def);
    }

    public static class VERSION {
        public static final int SDK_INT = Integer.getInteger("harness.build.sdk", 34);
        public static final String RELEASE = prop("release", "14");
    }
}
