package android.provider;

import android.content.ContentResolver;

/** Stand-in for android.provider.Settings. */
public final class Settings {
    /** ANDROID_ID comes from -Dharness.android_id (empty simulates "unavailable"). */
    public static final class Secure {
        public static String getString(ContentResolver resolver, String name) {
            if (!"android_id".equals(name)) {
                return null;
            }
            String id = System.getProperty("harness.android_id", "9774d56d682e549c");
            return id.isEmpty() ? null : id;
        }
    }
}
