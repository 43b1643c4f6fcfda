package android.security.keystore;

/** Stand-in for android.security.keystore.KeyProperties (API 23): the constants the runtime uses. */
public final class KeyProperties {
    public static final int PURPOSE_SIGN = 4;
    public static final String DIGEST_SHA256 = "SHA-256";
    public static final String KEY_ALGORITHM_EC = "EC";

    private KeyProperties() {}
}
