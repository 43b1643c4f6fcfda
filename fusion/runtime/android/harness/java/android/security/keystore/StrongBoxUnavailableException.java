package android.security.keystore;

import java.security.ProviderException;

/** Stand-in for android.security.keystore.StrongBoxUnavailableException (API 28). */
public class StrongBoxUnavailableException extends ProviderException {
    private static final long serialVersionUID = 1L;

    public StrongBoxUnavailableException() {
        super("StrongBox unavailable");
    }
}
