package android.content.pm;

/** Stand-in for android.content.pm.Signature: the DER signing certificate. */
public class Signature {
    private final byte[] der;

    public Signature(byte[] der) {
        this.der = der.clone();
    }

    public byte[] toByteArray() {
        return der.clone();
    }
}
