package android.security.keystore;

import java.security.spec.AlgorithmParameterSpec;

/**
 * Stand-in for android.security.keystore.KeyGenParameterSpec (API 23) and its
 * Builder: only what the runtime calls (alias, purposes, digests, the curve,
 * the API 24 attestation challenge, the API 28 StrongBox flag), plus the
 * getters the harness's AndroidKeyStore reads.
 */
public final class KeyGenParameterSpec implements AlgorithmParameterSpec {
    private final String alias;
    private final int purposes;
    private final String[] digests;
    private final byte[] challenge;
    private final AlgorithmParameterSpec algSpec;
    private final boolean strongBox;

    private KeyGenParameterSpec(Builder b) {
        this.alias = b.alias;
        this.purposes = b.purposes;
        this.digests = b.digests;
        this.challenge = b.challenge;
        this.algSpec = b.algSpec;
        this.strongBox = b.strongBox;
    }

    public String getKeystoreAlias() {
        return alias;
    }

    public int getPurposes() {
        return purposes;
    }

    public String[] getDigests() {
        return digests.clone();
    }

    public byte[] getAttestationChallenge() {
        return challenge == null ? null : challenge.clone();
    }

    public AlgorithmParameterSpec getAlgorithmParameterSpec() {
        return algSpec;
    }

    public boolean isStrongBoxBacked() {
        return strongBox;
    }

    public static final class Builder {
        private final String alias;
        private final int purposes;
        private String[] digests = new String[0];
        private byte[] challenge;
        private AlgorithmParameterSpec algSpec;
        private boolean strongBox;

        public Builder(String alias, int purposes) {
            if (alias == null || alias.isEmpty()) {
                throw new IllegalArgumentException("keystoreAlias must not be empty");
            }
            this.alias = alias;
            this.purposes = purposes;
        }

        public Builder setDigests(String... digests) {
            this.digests = digests.clone();
            return this;
        }

        public Builder setAttestationChallenge(byte[] challenge) {
            this.challenge = challenge == null ? null : challenge.clone();
            return this;
        }

        public Builder setAlgorithmParameterSpec(AlgorithmParameterSpec spec) {
            this.algSpec = spec;
            return this;
        }

        public Builder setIsStrongBoxBacked(boolean strongBox) {
            this.strongBox = strongBox;
            return this;
        }

        public KeyGenParameterSpec build() {
            return new KeyGenParameterSpec(this);
        }
    }
}
