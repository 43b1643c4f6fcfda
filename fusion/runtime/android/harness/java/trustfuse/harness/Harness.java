package trustfuse.harness;

import android.content.Intent;
import android.content.pm.ProviderInfo;
import android.widget.Toast;
import io.trustfuse.runtime.Attest;
import io.trustfuse.runtime.Identity;
import io.trustfuse.runtime.Init;
import io.trustfuse.runtime.ThreatEvents;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.lang.reflect.Proxy;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Runs the runtime's ContentProvider on a JVM, then makes one HTTPS request
 * and prints a single "RESULT {json}" line on stdout.
 *
 * <pre>
 * --apk FILE --pkg NAME --signer DER_FILE --url URL
 *   [--no-init]         do not run the provider (a plain JVM)
 *   [--trust DER_FILE]  CA to trust when the harness builds its own SSLContext
 *   [--kmf]             build an SSLContext from KeyManagerFactory(default).init(null, null)
 *   [--sleep MS]        wait before connecting
 *   [--ack THREAT]      acknowledge THREAT from the listener when its event arrives
 *   [--attest]          also call Attest.token() (endpoint and measurement from the policy)
 *   [--attested-url URL] then GET URL with Attest.attach(connection) (the token header)
 *   [--token-again MS]  after --attest, wait MS and call Attest.token() once more
 *   [--get URL]...      then plain GETs (no attach), in order
 *   [--gets-no-proxy]   open those with URL.openConnection(Proxy.NO_PROXY)
 *   [--gets-every MS]   wait MS before each of those GETs
 *   [--app-url-factory] set a URLStreamHandlerFactory before the provider starts,
 *                       as an app or library that owns it would
 * -Dharness.keyattest.mint=URL registers the AndroidKeyStore stand-in
 * --props FILE          only: load FILE with java.util.Properties and print it
 * </pre>
 */
public final class Harness {
    public static void main(String[] args) throws Exception {
        Map<String, String> a = new TreeMap<>();
        List<String> gets = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String k = args[i];
            boolean flag = k.equals("--no-init") || k.equals("--kmf") || k.equals("--attest") || k.equals("--app-url-factory")
                    || k.equals("--gets-no-proxy");
            if (k.equals("--get")) {
                gets.add(args[++i]);
                continue;
            }
            a.put(k, flag ? "true" : args[++i]);
        }
        if (a.containsKey("--props")) {
            props(a.get("--props"));
            return;
        }
        StringBuilder out = new StringBuilder("{");
        AtomicInteger listened = new AtomicInteger();
        FakeContext ctx = null;
        AndroidKeyStore.registerIfConfigured();
        if (a.containsKey("--app-url-factory")) {
            // null for every protocol: the platform handlers, but the factory slot is taken.
            URL.setURLStreamHandlerFactory(protocol -> null);
        }
        if (!a.containsKey("--no-init")) {
            // The listener is registered before the provider starts, as an
            // app's static initializer would; with --ack it acknowledges the
            // threat when its event arrives, as an app that handles it would.
            String ack = a.get("--ack");
            Class<?> li = Class.forName("io.trustfuse.runtime.ThreatEvents$Listener");
            Object l = Proxy.newProxyInstance(li.getClassLoader(), new Class<?>[] {li}, (p, m, as) -> {
                if (m.getName().equals("onThreatEvent")) {
                    listened.incrementAndGet();
                    @SuppressWarnings("unchecked")
                    Map<String, String> ev = (Map<String, String>) as[0];
                    if (ev.get("threatCode").equals(ack)) {
                        ThreatEvents.acknowledge(ack);
                    }
                }
                return null;
            });
            ThreatEvents.class.getMethod("setListener", li).invoke(null, l);
            ctx = new FakeContext(a.get("--apk"), a.get("--pkg"), Files.readAllBytes(Path.of(a.get("--signer"))));
            long t0 = System.nanoTime();
            new Init().attachInfo(ctx, new ProviderInfo());
            long t1 = System.nanoTime();
            field(out, "initMillis", String.valueOf((t1 - t0) / 1e6), false);
        }
        if (a.containsKey("--sleep")) {
            Thread.sleep(Long.parseLong(a.get("--sleep")));
        }
        TrustManagerFactory tmf = null;
        if (a.containsKey("--trust")) {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            try (InputStream in = Files.newInputStream(Path.of(a.get("--trust")))) {
                ks.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
            }
            tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
        }
        try {
            HttpsURLConnection c = (HttpsURLConnection) new URL(a.get("--url")).openConnection();
            c.setConnectTimeout(10000);
            c.setReadTimeout(10000);
            if (a.containsKey("--kmf")) {
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(null, null);
                field(out, "kmfProvider", kmf.getProvider().getName(), true);
                SSLContext sc = SSLContext.getInstance("TLS");
                sc.init(kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
                c.setSSLSocketFactory(sc.getSocketFactory());
            } else if (tmf != null) {
                SSLContext sc = SSLContext.getInstance("TLS");
                sc.init(null, tmf.getTrustManagers(), null);
                c.setSSLSocketFactory(sc.getSocketFactory());
            }
            int code = c.getResponseCode();
            field(out, "status", String.valueOf(code), false);
            try (InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream()) {
                field(out, "body", in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8), true);
            }
        } catch (Exception e) {
            field(out, "error", e.getClass().getName() + ": " + e.getMessage(), true);
        }
        if (a.containsKey("--attest")) {
            try {
                field(out, "token", Attest.token(), true);
                // A second call within the token's lifetime returns the cached token.
                field(out, "tokenCached", String.valueOf(Attest.token().equals(Attest.token())), false);
                if (a.containsKey("--token-again")) {
                    Thread.sleep(Long.parseLong(a.get("--token-again")));
                    field(out, "tokenLater", Attest.token(), true);
                }
            } catch (Exception e) {
                field(out, "attestError", e.getClass().getName() + ": " + e.getMessage(), true);
            }
        }
        if (a.containsKey("--attested-url")) {
            try {
                java.net.HttpURLConnection c = (java.net.HttpURLConnection) new URL(a.get("--attested-url")).openConnection();
                c.setConnectTimeout(10000);
                c.setReadTimeout(10000);
                Attest.attach(c);
                int code = c.getResponseCode();
                field(out, "attestedStatus", String.valueOf(code), false);
                try (InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream()) {
                    field(out, "attestedBody", in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8), true);
                }
            } catch (Exception e) {
                field(out, "attestedError", e.getClass().getName() + ": " + e.getMessage(), true);
            }
        }
        List<String> got = new ArrayList<>();
        for (String u : gets) {
            if (a.containsKey("--gets-every")) {
                Thread.sleep(Long.parseLong(a.get("--gets-every")));
            }
            StringBuilder g = new StringBuilder("{");
            try {
                URL url = new URL(u);
                java.net.HttpURLConnection c = (java.net.HttpURLConnection) (a.containsKey("--gets-no-proxy")
                        ? url.openConnection(java.net.Proxy.NO_PROXY) : url.openConnection());
                c.setConnectTimeout(10000);
                c.setReadTimeout(10000);
                int code = c.getResponseCode();
                field(g, "status", String.valueOf(code), false);
                try (InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream()) {
                    field(g, "body", in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8), true);
                }
            } catch (Exception e) {
                field(g, "error", e.getClass().getName() + ": " + e.getMessage(), true);
            }
            g.setLength(g.length() - 1);
            got.add(g.append('}').toString());
        }
        if (!gets.isEmpty()) {
            out.append("\"gets\":[").append(String.join(",", got)).append("],");
        }
        if (ctx != null) {
            field(out, "checksDone", String.valueOf(ThreatEvents.awaitChecks(10000)), false);
            field(out, "listenerCalls", String.valueOf(listened.get()), false);
            field(out, "identity", Identity.state(), true);
            List<String> evs = new ArrayList<>();
            for (Object ev : ThreatEvents.recorded()) {
                @SuppressWarnings("unchecked")
                Map<String, String> m = (Map<String, String>) ev;
                evs.add(object(m));
            }
            out.append("\"events\":[").append(String.join(",", evs)).append("],");
            List<String> bcs = new ArrayList<>();
            for (Intent in : new ArrayList<>(ctx.broadcasts)) {
                StringBuilder b = new StringBuilder("{");
                field(b, "action", in.getAction(), true);
                field(b, "package", in.getPackage(), true);
                b.append("\"extras\":").append(object(in.stringExtras())).append('}');
                bcs.add(b.toString());
            }
            out.append("\"broadcasts\":[").append(String.join(",", bcs)).append("],");
            List<String> toasts = new ArrayList<>();
            for (String t : Toast.shown()) {
                toasts.add(quote(t));
            }
            out.append("\"toasts\":[").append(String.join(",", toasts)).append("],");
        }
        if (out.charAt(out.length() - 1) == ',') {
            out.setLength(out.length() - 1);
        }
        System.out.println("RESULT " + out.append('}'));
        System.out.flush();
        System.exit(0);
    }

    private static void props(String file) throws Exception {
        Properties p = new Properties();
        p.load(new ByteArrayInputStream(Files.readAllBytes(Path.of(file))));
        Map<String, String> m = new TreeMap<>();
        for (String k : p.stringPropertyNames()) {
            m.put(k, p.getProperty(k));
        }
        System.out.println("RESULT " + object(m));
    }

    private static void field(StringBuilder b, String k, String v, boolean str) {
        b.append(quote(k)).append(':').append(str ? quote(v) : v).append(',');
    }

    private static String object(Map<String, String> m) {
        List<String> kv = new ArrayList<>();
        for (Map.Entry<String, String> e : m.entrySet()) {
            kv.add(quote(e.getKey()) + ":" + quote(e.getValue()));
        }
        return "{" + String.join(",", kv) + "}";
    }

    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') {
                b.append('\\').append(ch);
            } else if (ch < 0x20 || ch > 0x7e) {
                b.append(String.format("\\u%04x", (int) ch));
            } else {
                b.append(ch);
            }
        }
        return b.append('"').toString();
    }
}
