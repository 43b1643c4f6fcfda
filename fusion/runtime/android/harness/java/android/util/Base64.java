package android.util;

/**
 * Stand-in for android.util.Base64 (API 8): the flags the runtime uses,
 * NO_PADDING, NO_WRAP and URL_SAFE, over java.util.Base64.
 */
public final class Base64 {
    public static final int DEFAULT = 0;
    public static final int NO_PADDING = 1;
    public static final int NO_WRAP = 2;
    public static final int URL_SAFE = 8;

    private Base64() {}

    public static byte[] decode(String s, int flags) {
        // Android's decoder accepts both alphabets' padding-free forms.
        java.util.Base64.Decoder d = (flags & URL_SAFE) != 0 ? java.util.Base64.getUrlDecoder() : java.util.Base64.getDecoder();
        try {
            return d.decode(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad base-64", e);
        }
    }

    public static String encodeToString(byte[] b, int flags) {
        if ((flags & NO_WRAP) == 0) {
            throw new UnsupportedOperationException("stand-in: only NO_WRAP is implemented");
        }
        java.util.Base64.Encoder e = (flags & URL_SAFE) != 0 ? java.util.Base64.getUrlEncoder() : java.util.Base64.getEncoder();
        if ((flags & NO_PADDING) != 0) {
            e = e.withoutPadding();
        }
        return e.encodeToString(b);
    }
}
