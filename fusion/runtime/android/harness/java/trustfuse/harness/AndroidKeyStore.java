package trustfuse.harness;

import android.security.keystore.KeyGenParameterSpec;
import android.security.keystore.KeyProperties;
import android.security.keystore.StrongBoxUnavailableException;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.InvalidAlgorithmParameterException;
import java.security.InvalidParameterException;
import java.security.Key;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyPairGeneratorSpi;
import java.security.KeyStoreException;
import java.security.KeyStoreSpi;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.ProviderException;
import java.security.SecureRandom;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.AlgorithmParameterSpec;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.Date;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Stand-in for Android's "AndroidKeyStore" JCA provider, registered by the
 * harness when -Dharness.keyattest.mint=URL is set. Its EC KeyPairGenerator
 * takes a KeyGenParameterSpec, generates a real JDK P-256 key, and asks the
 * mint (the test's stand-in for the device's attestation CA) for a chain:
 * POST {"challenge": b64, "publicKey": b64 SPKI DER, "strongBox": bool} →
 * {"chain": [b64 DER, …]}. Its KeyStore returns that chain and the private
 * key (a JDK key JSSE can sign with) for the alias, and setKeyEntry replaces
 * the chain of an existing key, as Android's does for an issued certificate.
 *
 * <pre>
 * -Dharness.keyattest.none=true     a device without attestation: generating
 *                                   a key with a challenge throws ProviderException
 * -Dharness.strongbox=yes           StrongBox present (PackageManager declares it)
 * -Dharness.strongbox=unavailable   declared, but StrongBox generation throws
 *                                   StrongBoxUnavailableException
 * -Dharness.keystore.file=FILE      entries persist in FILE across JVM runs (a restart)
 * </pre>
 */
public final class AndroidKeyStore extends Provider {
    private static final long serialVersionUID = 1L;
    static final Map<String, Certificate[]> CHAINS = new ConcurrentHashMap<>();
    static final Map<String, PrivateKey> KEYS = new ConcurrentHashMap<>();

    AndroidKeyStore() {
        super("AndroidKeyStore", "1.0", "trustfuse harness stand-in for Android Key Attestation");
        put("KeyPairGenerator.EC", Kpg.class.getName());
        put("KeyStore.AndroidKeyStore", Ks.class.getName());
    }

    /** Registers the provider when harness.keyattest.mint is set. */
    static void registerIfConfigured() {
        if (System.getProperty("harness.keyattest.mint") != null) {
            load();
            Security.addProvider(new AndroidKeyStore());
        }
    }

    /** load reads the entries saved by an earlier run (harness.keystore.file). */
    private static void load() {
        String f = System.getProperty("harness.keystore.file");
        if (f == null || !Files.exists(Path.of(f))) {
            return;
        }
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (String line : Files.readAllLines(Path.of(f))) {
                String[] p = line.split(" ");
                if (p.length < 3) {
                    continue;
                }
                Base64.Decoder d = Base64.getDecoder();
                KEYS.put(p[0], KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(d.decode(p[1]))));
                List<Certificate> chain = new ArrayList<>();
                for (int i = 2; i < p.length; i++) {
                    chain.add(cf.generateCertificate(new ByteArrayInputStream(d.decode(p[i]))));
                }
                CHAINS.put(p[0], chain.toArray(new Certificate[0]));
            }
        } catch (Exception e) {
            throw new IllegalStateException("AndroidKeyStore stand-in: cannot load " + f, e);
        }
    }

    /** save writes every entry (harness.keystore.file), one line each: alias PKCS#8 cert…, base64. */
    private static synchronized void save() {
        String f = System.getProperty("harness.keystore.file");
        if (f == null) {
            return;
        }
        StringBuilder b = new StringBuilder();
        Base64.Encoder e = Base64.getEncoder();
        try {
            for (Map.Entry<String, PrivateKey> k : KEYS.entrySet()) {
                b.append(k.getKey()).append(' ').append(e.encodeToString(k.getValue().getEncoded()));
                for (Certificate c : CHAINS.getOrDefault(k.getKey(), new Certificate[0])) {
                    b.append(' ').append(e.encodeToString(c.getEncoded()));
                }
                b.append('\n');
            }
            Files.writeString(Path.of(f), b.toString());
        } catch (Exception ex) {
            throw new IllegalStateException("AndroidKeyStore stand-in: cannot save " + f, ex);
        }
    }

    public static final class Kpg extends KeyPairGeneratorSpi {
        private KeyGenParameterSpec spec;

        public Kpg() {}

        @Override
        public void initialize(int keysize, SecureRandom random) {
            throw new InvalidParameterException("AndroidKeyStore stand-in: use a KeyGenParameterSpec");
        }

        @Override
        public void initialize(AlgorithmParameterSpec params, SecureRandom random) throws InvalidAlgorithmParameterException {
            if (!(params instanceof KeyGenParameterSpec)) {
                throw new InvalidAlgorithmParameterException("not a KeyGenParameterSpec: " + params);
            }
            KeyGenParameterSpec s = (KeyGenParameterSpec) params;
            if ((s.getPurposes() & KeyProperties.PURPOSE_SIGN) == 0
                    || !Arrays.asList(s.getDigests()).contains(KeyProperties.DIGEST_SHA256)) {
                throw new InvalidAlgorithmParameterException("stand-in expects PURPOSE_SIGN with SHA-256");
            }
            AlgorithmParameterSpec curve = s.getAlgorithmParameterSpec();
            if (curve != null && !(curve instanceof ECGenParameterSpec && ((ECGenParameterSpec) curve).getName().equals("secp256r1"))) {
                throw new InvalidAlgorithmParameterException("stand-in makes P-256 keys only: " + curve);
            }
            spec = s;
        }

        @Override
        public KeyPair generateKeyPair() {
            if (spec == null) {
                throw new IllegalStateException("not initialized");
            }
            byte[] challenge = spec.getAttestationChallenge();
            if (challenge != null && Boolean.getBoolean("harness.keyattest.none")) {
                throw new ProviderException("Failed to generate key pair: attestation not supported by this device");
            }
            if (spec.isStrongBoxBacked() && !System.getProperty("harness.strongbox", "").equals("yes")) {
                throw new StrongBoxUnavailableException();
            }
            try {
                KeyPairGenerator g = KeyPairGenerator.getInstance("EC", "SunEC");
                g.initialize(new ECGenParameterSpec("secp256r1"));
                KeyPair kp = g.generateKeyPair();
                String alias = spec.getKeystoreAlias();
                if (challenge != null) {
                    CHAINS.put(alias, mint(challenge, kp.getPublic().getEncoded(), spec.isStrongBoxBacked()));
                } else {
                    CHAINS.remove(alias);
                }
                KEYS.put(alias, kp.getPrivate());
                save();
                return kp;
            } catch (Exception e) {
                throw new IllegalStateException("AndroidKeyStore stand-in: " + e, e);
            }
        }
    }

    static Certificate[] mint(byte[] challenge, byte[] spki, boolean strongBox) throws Exception {
        String body = "{\"challenge\":\"" + Base64.getEncoder().encodeToString(challenge)
                + "\",\"publicKey\":\"" + Base64.getEncoder().encodeToString(spki)
                + "\",\"strongBox\":" + strongBox + "}";
        HttpURLConnection c = (HttpURLConnection) new URL(System.getProperty("harness.keyattest.mint")).openConnection();
        c.setRequestMethod("POST");
        c.setDoOutput(true);
        c.setConnectTimeout(10000);
        c.setReadTimeout(10000);
        c.setRequestProperty("Content-Type", "application/json");
        try (OutputStream o = c.getOutputStream()) {
            o.write(body.getBytes(StandardCharsets.UTF_8));
        }
        if (c.getResponseCode() != 200) {
            throw new IllegalStateException("mint: HTTP " + c.getResponseCode());
        }
        String resp;
        try (InputStream in = c.getInputStream()) {
            resp = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Matcher arr = Pattern.compile("\"chain\"\\s*:\\s*\\[([^\\]]*)\\]").matcher(resp);
        if (!arr.find()) {
            throw new IllegalStateException("mint: no chain in " + resp);
        }
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<Certificate> out = new ArrayList<>();
        Matcher item = Pattern.compile("\"([A-Za-z0-9+/=]+)\"").matcher(arr.group(1));
        while (item.find()) {
            out.add(cf.generateCertificate(new ByteArrayInputStream(Base64.getDecoder().decode(item.group(1)))));
        }
        return out.toArray(new Certificate[0]);
    }

    public static final class Ks extends KeyStoreSpi {
        public Ks() {}

        @Override
        public Certificate[] engineGetCertificateChain(String alias) {
            Certificate[] c = CHAINS.get(alias);
            return c == null ? null : c.clone();
        }

        @Override
        public Certificate engineGetCertificate(String alias) {
            Certificate[] c = CHAINS.get(alias);
            return c == null || c.length == 0 ? null : c[0];
        }

        @Override
        public void engineLoad(InputStream stream, char[] password) {
            if (stream != null) {
                throw new IllegalArgumentException("AndroidKeyStore loads with null");
            }
        }

        @Override
        public Key engineGetKey(String alias, char[] password) {
            return KEYS.get(alias);
        }

        @Override
        public Date engineGetCreationDate(String alias) {
            return CHAINS.containsKey(alias) ? new Date() : null;
        }

        /** Replaces the chain of the key generated under alias (Android's only use without import). */
        @Override
        public void engineSetKeyEntry(String alias, Key key, char[] password, Certificate[] chain) throws KeyStoreException {
            PrivateKey k = KEYS.get(alias);
            if (k == null || !k.equals(key)) {
                throw new KeyStoreException("stand-in: setKeyEntry only for the key generated under " + alias);
            }
            if (password != null || chain == null || chain.length == 0) {
                throw new KeyStoreException("stand-in: setKeyEntry with a null password and a chain");
            }
            CHAINS.put(alias, chain.clone());
            save();
        }

        @Override
        public void engineSetKeyEntry(String alias, byte[] key, Certificate[] chain) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void engineSetCertificateEntry(String alias, Certificate cert) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void engineDeleteEntry(String alias) {
            CHAINS.remove(alias);
            KEYS.remove(alias);
            save();
        }

        @Override
        public Enumeration<String> engineAliases() {
            return Collections.enumeration(new ArrayList<>(CHAINS.keySet()));
        }

        @Override
        public boolean engineContainsAlias(String alias) {
            return CHAINS.containsKey(alias);
        }

        @Override
        public int engineSize() {
            return CHAINS.size();
        }

        @Override
        public boolean engineIsKeyEntry(String alias) {
            return CHAINS.containsKey(alias);
        }

        @Override
        public boolean engineIsCertificateEntry(String alias) {
            return false;
        }

        @Override
        public String engineGetCertificateAlias(Certificate cert) {
            for (Map.Entry<String, Certificate[]> e : CHAINS.entrySet()) {
                if (e.getValue().length > 0 && e.getValue()[0].equals(cert)) {
                    return e.getKey();
                }
            }
            return null;
        }

        @Override
        public void engineStore(OutputStream stream, char[] password) {
            throw new UnsupportedOperationException();
        }
    }
}
