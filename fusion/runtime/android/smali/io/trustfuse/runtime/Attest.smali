# Attest: the attestation client for `trustfuse serve` (docs/attestation.md).
# token() -> POST <attest.endpoint>/v1/challenge -> {"nonce"}; POST /v1/attest
# with the release measurement's fields (the policy's attest.measurement,
# RFC 8785 JSON, with manifestDigest, runtimeDigest and the app's dexDigests
# re-measured from the installed package file), proof = base64url(HMAC-SHA256(vault
# attestation key, nonceRaw || SHA-256(measurement JSON))), deviceInfo.id and
# the threats fired so far, and (attest.keyAttestation optional|required,
# API 24+) an Android Key Attestation chain whose challenge is the nonce
# -> {"token","expiresAt"}. The token is cached until 3/4 of its lifetime has
# passed: expiresAt - now, capped by the policy's attest.tokenTtlMs (which is
# also the fallback). attach(conn) sets it under the policy's
# attest.tokenHeader; decorate(...) does the same for Urls, the URL handler
# factory, on connections to the protected hosts. Plain HttpURLConnection, so
# the calls go through the runtime's default SSLContext (client certificate +
# pin) and through Urls, which skips them (busy: this thread is fetching).
# State is set once by Init (setup) and read without a lock: two threads
# asking for the first token at once may each fetch one, which is harmless.
.class public final Lio/trustfuse/runtime/Attest;
.super Ljava/lang/Object;

.field private static volatile guard:Lio/trustfuse/runtime/Guard;
.field private static volatile key:[B
.field private static volatile cached:Ljava/lang/String;
.field private static volatile until:J
# busy: set on the thread fetching a token (no header on its own requests)
.field private static final busy:Ljava/lang/ThreadLocal;


.method static constructor <clinit>()V
    .locals 1
    new-instance v0, Ljava/lang/ThreadLocal;
    invoke-direct {v0}, Ljava/lang/ThreadLocal;-><init>()V
    sput-object v0, Lio/trustfuse/runtime/Attest;->busy:Ljava/lang/ThreadLocal;
    return-void
.end method


.method private constructor <init>()V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

.method static policy(Landroid/content/Context;)Ljava/util/Properties;
    .locals 3
    const-string v0, "trustfuse/policy.bin"
    invoke-static {p0, v0}, Lio/trustfuse/runtime/U;->asset(Landroid/content/Context;Ljava/lang/String;)[B
    move-result-object v0
    if-nez v0, :have
    new-instance v0, Ljava/io/IOException;
    const-string v1, "trustfuse: no policy asset"
    invoke-direct {v0, v1}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
    :have
    new-instance v1, Ljava/util/Properties;
    invoke-direct {v1}, Ljava/util/Properties;-><init>()V
    new-instance v2, Ljava/io/ByteArrayInputStream;
    invoke-direct {v2, v0}, Ljava/io/ByteArrayInputStream;-><init>([B)V
    invoke-virtual {v1, v2}, Ljava/util/Properties;->load(Ljava/io/InputStream;)V
    return-object v1
.end method

# headerName(context) -> the policy's token header (default TrustFuse-Token)
.method public static headerName(Landroid/content/Context;)Ljava/lang/String;
    .locals 2
    invoke-static {p0}, Lio/trustfuse/runtime/Attest;->policy(Landroid/content/Context;)Ljava/util/Properties;
    move-result-object v0
    const-string v1, "attest.tokenHeader"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {v0}, Ljava/lang/String;->length()I
    move-result v1
    if-nez v1, :done
    const-string v0, "TrustFuse-Token"
    :done
    return-object v0
.end method

# token(context) -> token(); the context is not needed (kept for earlier callers)
.method public static token(Landroid/content/Context;)Ljava/lang/String;
    .locals 1
    invoke-static {}, Lio/trustfuse/runtime/Attest;->token()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

# setup(guard, attestKey): called by Init once the vault is unsealed
.method static setup(Lio/trustfuse/runtime/Guard;[B)V
    .locals 0
    sput-object p1, Lio/trustfuse/runtime/Attest;->key:[B
    sput-object p0, Lio/trustfuse/runtime/Attest;->guard:Lio/trustfuse/runtime/Guard;
    return-void
.end method

# invalidate(): forget the cached token (e.g. after the backend answered 401)
.method public static invalidate()V
    .locals 1
    const/4 v0, 0x0
    sput-object v0, Lio/trustfuse/runtime/Attest;->cached:Ljava/lang/String;
    return-void
.end method

# token() -> a token for this install: the cached one while fresh, else a new
# one. In the attested modes it first waits for the first certificate, whose
# response brings a token bound to it.
.method public static token()Ljava/lang/String;
    .locals 8
    invoke-static {}, Lio/trustfuse/runtime/Identity;->await()V
    sget-object v0, Lio/trustfuse/runtime/Attest;->cached:Ljava/lang/String;
    if-eqz v0, :fetch
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v1
    sget-wide v3, Lio/trustfuse/runtime/Attest;->until:J
    cmp-long v5, v1, v3
    if-gez v5, :fetch
    return-object v0
    :fetch
    sget-object v0, Lio/trustfuse/runtime/Attest;->guard:Lio/trustfuse/runtime/Guard;
    sget-object v1, Lio/trustfuse/runtime/Attest;->key:[B
    if-eqz v0, :unavailable
    if-eqz v1, :unavailable
    array-length v2, v1
    if-eqz v2, :unavailable
    sget-object v3, Lio/trustfuse/runtime/Attest;->busy:Ljava/lang/ThreadLocal;
    sget-object v4, Ljava/lang/Boolean;->TRUE:Ljava/lang/Boolean;
    invoke-virtual {v3, v4}, Ljava/lang/ThreadLocal;->set(Ljava/lang/Object;)V
    :try_start
    const-string v2, "/v1/attest"
    const/4 v5, 0x0
    invoke-static {v0, v1, v2, v5}, Lio/trustfuse/runtime/Attest;->fetch(Lio/trustfuse/runtime/Guard;[BLjava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    :try_end
    .catchall {:try_start .. :try_end} :fin
    invoke-virtual {v3}, Ljava/lang/ThreadLocal;->remove()V
    const-string v1, "token"
    invoke-static {v2, v1}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    const-string v4, "expiresAt"
    invoke-static {v0, v2, v4}, Lio/trustfuse/runtime/Attest;->lifetime(Lio/trustfuse/runtime/Guard;Ljava/lang/String;Ljava/lang/String;)J
    move-result-wide v4
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v6
    add-long/2addr v4, v6
    sput-wide v4, Lio/trustfuse/runtime/Attest;->until:J
    sput-object v1, Lio/trustfuse/runtime/Attest;->cached:Ljava/lang/String;
    return-object v1
    :fin
    move-exception v0
    invoke-virtual {v3}, Ljava/lang/ThreadLocal;->remove()V
    throw v0
    :unavailable
    new-instance v0, Ljava/io/IOException;
    const-string v1, "trustfuse: attestation unavailable: the vault did not unseal (re-signed app or edited policy) or the runtime did not start"
    invoke-direct {v0, v1}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

# lifetime(guard, response, name) -> milliseconds to cache the token: 3/4 of
# min(<name> - now, attest.tokenTtlMs), <name> being expiresAt (/v1/attest)
# or tokenExpiresAt (/v1/certificate); the policy's TTL alone when it is
# absent, unparsable or already past (device clock ahead)
.method static lifetime(Lio/trustfuse/runtime/Guard;Ljava/lang/String;Ljava/lang/String;)J
    .locals 7
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "attest.tokenTtlMs"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->propLong(Ljava/util/Properties;Ljava/lang/String;)J
    move-result-wide v0
    :try_start
    invoke-static {p1, p2}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-static {v2}, Lio/trustfuse/runtime/Attest;->parseTime(Ljava/lang/String;)J
    move-result-wide v2
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :quarter
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v4
    sub-long/2addr v2, v4
    const-wide/16 v4, 0x0
    cmp-long v6, v2, v4
    if-lez v6, :quarter
    cmp-long v6, v0, v4
    if-gtz v6, :cap
    move-wide v0, v2
    goto :quarter
    :cap
    cmp-long v6, v2, v0
    if-gez v6, :quarter
    move-wide v0, v2
    :quarter
    const-wide/16 v2, 0x4
    div-long v2, v0, v2
    sub-long/2addr v0, v2
    return-wide v0
.end method

# parseTime("yyyy-MM-ddTHH:mm:ss[.fraction]Z") -> epoch milliseconds (fraction
# dropped: the token is then kept a little less long); other forms throw
.method static parseTime(Ljava/lang/String;)J
    .locals 4
    invoke-virtual {p0}, Ljava/lang/String;->length()I
    move-result v0
    const/16 v1, 0x14
    if-lt v0, v1, :bad
    add-int/lit8 v0, v0, -0x1
    invoke-virtual {p0, v0}, Ljava/lang/String;->charAt(I)C
    move-result v0
    const/16 v1, 0x5a
    if-ne v0, v1, :bad
    new-instance v0, Ljava/text/SimpleDateFormat;
    const-string v1, "yyyy-MM-dd'T'HH:mm:ss"
    sget-object v2, Ljava/util/Locale;->ROOT:Ljava/util/Locale;
    invoke-direct {v0, v1, v2}, Ljava/text/SimpleDateFormat;-><init>(Ljava/lang/String;Ljava/util/Locale;)V
    const-string v1, "UTC"
    invoke-static {v1}, Ljava/util/TimeZone;->getTimeZone(Ljava/lang/String;)Ljava/util/TimeZone;
    move-result-object v1
    invoke-virtual {v0, v1}, Ljava/text/DateFormat;->setTimeZone(Ljava/util/TimeZone;)V
    const/4 v1, 0x0
    const/16 v2, 0x13
    invoke-virtual {p0, v1, v2}, Ljava/lang/String;->substring(II)Ljava/lang/String;
    move-result-object v1
    invoke-virtual {v0, v1}, Ljava/text/DateFormat;->parse(Ljava/lang/String;)Ljava/util/Date;
    move-result-object v0
    invoke-virtual {v0}, Ljava/util/Date;->getTime()J
    move-result-wide v0
    return-wide v0
    :bad
    new-instance v0, Ljava/lang/IllegalArgumentException;
    const-string v1, "trustfuse: expiresAt is not a UTC RFC 3339 time"
    invoke-direct {v0, v1}, Ljava/lang/IllegalArgumentException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

# header(guard) -> the policy's attest.tokenHeader, default TrustFuse-Token
.method static header(Lio/trustfuse/runtime/Guard;)Ljava/lang/String;
    .locals 2
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "attest.tokenHeader"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {v0}, Ljava/lang/String;->length()I
    move-result v1
    if-nez v1, :done
    const-string v0, "TrustFuse-Token"
    :done
    return-object v0
.end method

# attach(conn): sets the token header (policy attest.tokenHeader, default TrustFuse-Token)
.method public static attach(Ljava/net/HttpURLConnection;)V
    .locals 2
    invoke-static {}, Lio/trustfuse/runtime/Attest;->token()Ljava/lang/String;
    move-result-object v0
    sget-object v1, Lio/trustfuse/runtime/Attest;->guard:Lio/trustfuse/runtime/Guard;
    invoke-static {v1}, Lio/trustfuse/runtime/Attest;->header(Lio/trustfuse/runtime/Guard;)Ljava/lang/String;
    move-result-object v1
    invoke-virtual {p0, v1, v0}, Ljava/net/URLConnection;->setRequestProperty(Ljava/lang/String;Ljava/lang/String;)V
    return-void
.end method

# decorate(guard, url, conn): Urls' hook. Sets the token header on an HTTP
# connection to a protected host, unless the URL is under attest.endpoint,
# this thread is fetching a token, or the header is already set. A failed
# token() is logged and the request goes without the header (guard answers 401).
.method static decorate(Lio/trustfuse/runtime/Guard;Ljava/net/URL;Ljava/net/URLConnection;)V
    .locals 4
    instance-of v0, p2, Ljava/net/HttpURLConnection;
    if-eqz v0, :skip
    invoke-virtual {p1}, Ljava/net/URL;->getHost()Ljava/lang/String;
    move-result-object v0
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Guard;->protectedHost(Ljava/lang/String;)Z
    move-result v0
    if-eqz v0, :skip
    sget-object v0, Lio/trustfuse/runtime/Attest;->busy:Ljava/lang/ThreadLocal;
    invoke-virtual {v0}, Ljava/lang/ThreadLocal;->get()Ljava/lang/Object;
    move-result-object v0
    if-nez v0, :skip
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "attest.endpoint"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-virtual {p1}, Ljava/net/URL;->toExternalForm()Ljava/lang/String;
    move-result-object v2
    invoke-static {v2, v1}, Lio/trustfuse/runtime/Attest;->under(Ljava/lang/String;Ljava/lang/String;)Z
    move-result v3
    if-nez v3, :skip
    invoke-static {p0}, Lio/trustfuse/runtime/Attest;->header(Lio/trustfuse/runtime/Guard;)Ljava/lang/String;
    move-result-object v1
    invoke-virtual {p2, v1}, Ljava/net/URLConnection;->getRequestProperty(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    if-nez v3, :skip
    :try_start
    invoke-static {}, Lio/trustfuse/runtime/Attest;->token()Ljava/lang/String;
    move-result-object v3
    invoke-virtual {p2, v1, v3}, Ljava/net/URLConnection;->setRequestProperty(Ljava/lang/String;Ljava/lang/String;)V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :failed
    :skip
    return-void
    :failed
    move-exception v3
    const-string v0, "trustfuse: no attestation token; request to a protected host sent without it"
    invoke-static {v0, v3}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    return-void
.end method

# under(url, endpoint) -> url is endpoint or below it (endpoint followed by '/', '?' or '#')
.method static under(Ljava/lang/String;Ljava/lang/String;)Z
    .locals 3
    invoke-virtual {p1}, Ljava/lang/String;->length()I
    move-result v0
    if-eqz v0, :no
    invoke-virtual {p0, p1}, Ljava/lang/String;->startsWith(Ljava/lang/String;)Z
    move-result v1
    if-eqz v1, :no
    invoke-virtual {p0}, Ljava/lang/String;->length()I
    move-result v1
    if-eq v1, v0, :yes
    const/16 v1, 0x2f
    add-int/lit8 v2, v0, -0x1
    invoke-virtual {p1, v2}, Ljava/lang/String;->charAt(I)C
    move-result v2
    if-eq v2, v1, :yes
    invoke-virtual {p0, v0}, Ljava/lang/String;->charAt(I)C
    move-result v2
    if-eq v2, v1, :yes
    const/16 v1, 0x3f
    if-eq v2, v1, :yes
    const/16 v1, 0x23
    if-eq v2, v1, :yes
    :no
    const/4 v0, 0x0
    return v0
    :yes
    const/4 v0, 0x1
    return v0
.end method

# fetch(guard, attestKey, path, alias) -> the response of path (challenge,
# then /v1/attest {"token","expiresAt"}, or, with an alias, /v1/certificate
# with the attestation chain of a new key under alias (Identity.generate))
.method static fetch(Lio/trustfuse/runtime/Guard;[BLjava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    .locals 8
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "attest.endpoint"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    const-string v2, "attest.measurement"
    invoke-static {v0, v2}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-virtual {v1}, Ljava/lang/String;->length()I
    move-result v3
    if-eqz v3, :incomplete
    invoke-virtual {v2}, Ljava/lang/String;->length()I
    move-result v3
    const/4 v4, 0x2
    if-le v3, v4, :incomplete
    # the manifest, runtime and app dex digests as installed, not as fused
    invoke-static {p0, v2}, Lio/trustfuse/runtime/Attest;->measured(Lio/trustfuse/runtime/Guard;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2

    # challenge
    const-string v3, "/v1/challenge"
    invoke-virtual {v1, v3}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    const-string v4, "{}"
    invoke-static {v3, v4}, Lio/trustfuse/runtime/Attest;->post(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    const-string v4, "nonce"
    invoke-static {v3, v4}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3

    # proof = HMAC-SHA256(attestKey, nonceRaw || SHA-256(measurement JSON)); 0xb = URL_SAFE|NO_WRAP|NO_PADDING
    const/16 v4, 0xb
    invoke-static {v3, v4}, Landroid/util/Base64;->decode(Ljava/lang/String;I)[B
    move-result-object v4
    move-object v7, v4
    new-instance v5, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v5}, Ljava/io/ByteArrayOutputStream;-><init>()V
    invoke-virtual {v5, v4}, Ljava/io/ByteArrayOutputStream;->write([B)V
    const-string v4, "UTF-8"
    invoke-virtual {v2, v4}, Ljava/lang/String;->getBytes(Ljava/lang/String;)[B
    move-result-object v4
    invoke-static {v4}, Lio/trustfuse/runtime/U;->sha256([B)[B
    move-result-object v4
    invoke-virtual {v5, v4}, Ljava/io/ByteArrayOutputStream;->write([B)V
    invoke-virtual {v5}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v5
    invoke-static {p1, v5}, Lio/trustfuse/runtime/U;->hmac([B[B)[B
    move-result-object v5
    const/16 v4, 0xb
    invoke-static {v5, v4}, Landroid/util/Base64;->encodeToString([BI)Ljava/lang/String;
    move-result-object v5

    # {"nonce":…,"proof":…,"deviceInfo":{"id":…},"threats":[…], <measurement fields>}
    new-instance v4, Ljava/lang/StringBuilder;
    const-string v6, "{\"nonce\":\""
    invoke-direct {v4, v6}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v4, v3}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v6, "\",\"proof\":\""
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v6, "\",\"deviceInfo\":{\"id\":\""
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {p0}, Lio/trustfuse/runtime/Guard;->deviceId()Ljava/lang/String;
    move-result-object v6
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v6, "\"},\"threats\":["
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-static {}, Lio/trustfuse/runtime/Attest;->threats()Ljava/lang/String;
    move-result-object v6
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v6, "],"
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    # the key attestation chain, when the policy asks for one and the device
    # can; for a certificate, that of the new identity key (required)
    if-eqz p3, :attestchain
    invoke-static {p0, p3, v7}, Lio/trustfuse/runtime/Identity;->generate(Lio/trustfuse/runtime/Guard;Ljava/lang/String;[B)Ljava/lang/String;
    move-result-object v6
    goto :havechain
    :attestchain
    invoke-static {p0, v7}, Lio/trustfuse/runtime/Attest;->chain(Lio/trustfuse/runtime/Guard;[B)Ljava/lang/String;
    move-result-object v6
    :havechain
    if-eqz v6, :nochain
    const-string v5, "\"keyAttestationChain\":["
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v5, "],"
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    :nochain
    const/4 v6, 0x1
    invoke-virtual {v2, v6}, Ljava/lang/String;->substring(I)Ljava/lang/String;
    move-result-object v6
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v4}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v4
    invoke-virtual {v1, p2}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v6
    invoke-static {v6, v4}, Lio/trustfuse/runtime/Attest;->post(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v4
    return-object v4
    :incomplete
    new-instance v0, Ljava/io/IOException;
    const-string v1, "trustfuse: no attestation endpoint or measurement in the policy"
    invoke-direct {v0, v1}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

# chain(guard, nonceRaw) -> the Android Key Attestation chain as JSON array
# items ("b64 DER","…", leaf first), or null: policy attest.keyAttestation off,
# API < 24, or any failure (serve then decides by its mode). A fresh EC key
# (AndroidKeyStore's default curve, P-256) under alias "trustfuse-attest"
# with the nonce as attestation challenge.
.method static chain(Lio/trustfuse/runtime/Guard;[B)Ljava/lang/String;
    .locals 8
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "attest.keyAttestation"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "optional"
    invoke-virtual {v1, v0}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v1
    if-nez v1, :wanted
    const-string v1, "required"
    invoke-virtual {v1, v0}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v1
    if-eqz v1, :none
    :wanted
    sget v0, Landroid/os/Build$VERSION;->SDK_INT:I
    const/16 v1, 0x18
    if-lt v0, v1, :none
    :try_start
    new-instance v0, Landroid/security/keystore/KeyGenParameterSpec$Builder;
    const-string v1, "trustfuse-attest"
    const/4 v2, 0x4
    invoke-direct {v0, v1, v2}, Landroid/security/keystore/KeyGenParameterSpec$Builder;-><init>(Ljava/lang/String;I)V
    const/4 v2, 0x1
    new-array v2, v2, [Ljava/lang/String;
    const-string v3, "SHA-256"
    const/4 v4, 0x0
    aput-object v3, v2, v4
    invoke-virtual {v0, v2}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->setDigests([Ljava/lang/String;)Landroid/security/keystore/KeyGenParameterSpec$Builder;
    invoke-virtual {v0, p1}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->setAttestationChallenge([B)Landroid/security/keystore/KeyGenParameterSpec$Builder;
    invoke-virtual {v0}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->build()Landroid/security/keystore/KeyGenParameterSpec;
    move-result-object v0
    const-string v2, "EC"
    const-string v3, "AndroidKeyStore"
    invoke-static {v2, v3}, Ljava/security/KeyPairGenerator;->getInstance(Ljava/lang/String;Ljava/lang/String;)Ljava/security/KeyPairGenerator;
    move-result-object v2
    invoke-virtual {v2, v0}, Ljava/security/KeyPairGenerator;->initialize(Ljava/security/spec/AlgorithmParameterSpec;)V
    invoke-virtual {v2}, Ljava/security/KeyPairGenerator;->generateKeyPair()Ljava/security/KeyPair;
    invoke-static {v3}, Ljava/security/KeyStore;->getInstance(Ljava/lang/String;)Ljava/security/KeyStore;
    move-result-object v2
    const/4 v0, 0x0
    invoke-virtual {v2, v0}, Ljava/security/KeyStore;->load(Ljava/security/KeyStore$LoadStoreParameter;)V
    invoke-virtual {v2, v1}, Ljava/security/KeyStore;->getCertificateChain(Ljava/lang/String;)[Ljava/security/cert/Certificate;
    move-result-object v2
    if-eqz v2, :none
    array-length v3, v2
    if-eqz v3, :none
    new-instance v4, Ljava/lang/StringBuilder;
    invoke-direct {v4}, Ljava/lang/StringBuilder;-><init>()V
    const/4 v5, 0x0
    :item
    if-ge v5, v3, :joined
    if-eqz v5, :quote
    const/16 v6, 0x2c
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    :quote
    const/16 v6, 0x22
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    aget-object v0, v2, v5
    invoke-virtual {v0}, Ljava/security/cert/Certificate;->getEncoded()[B
    move-result-object v0
    # 2 = NO_WRAP: standard alphabet, padded
    const/4 v7, 0x2
    invoke-static {v0, v7}, Landroid/util/Base64;->encodeToString([BI)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {v4, v0}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v4, v6}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    add-int/lit8 v5, v5, 0x1
    goto :item
    :joined
    invoke-virtual {v4}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :failed
    return-object v0
    :failed
    move-exception v0
    const-string v1, "trustfuse: no key attestation chain"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    :none
    const/4 v0, 0x0
    return-object v0
.end method

# measured(guard, measurementJSON) -> the JSON with manifestDigest (SHA-256 of
# AndroidManifest.xml, unless the policy says attest.skipManifest=true), runtimeDigest (when the policy names attest.runtimeDex)
# and the digest of every app dex (each classes.dex / classesN.dex entry but
# the runtime's) replaced by the digests of those entries in the installed
# package file. A dex the measurement does not list throws "unexpected dex",
# and so does a count of app dex entries other than the number of dexDigests
# keys (a listed dex the package lacks): no attestation. Only hex digests of
# equal length change, so the JSON stays canonical.
.method static measured(Lio/trustfuse/runtime/Guard;Ljava/lang/String;)Ljava/lang/String;
    .locals 7
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->ctx:Landroid/content/Context;
    invoke-virtual {v0}, Landroid/content/Context;->getApplicationInfo()Landroid/content/pm/ApplicationInfo;
    move-result-object v0
    iget-object v0, v0, Landroid/content/pm/ApplicationInfo;->sourceDir:Ljava/lang/String;
    new-instance v1, Ljava/util/zip/ZipFile;
    invoke-direct {v1, v0}, Ljava/util/zip/ZipFile;-><init>(Ljava/lang/String;)V
    :try_start
    # attest.skipManifest=true (an App Bundle's app: Play rewrote the
    # manifest): manifestDigest stays as registered (empty)
    iget-object v2, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v3, "attest.skipManifest"
    invoke-static {v2, v3}, Lio/trustfuse/runtime/U;->propTrue(Ljava/util/Properties;Ljava/lang/String;)Z
    move-result v2
    if-nez v2, :runtime
    const-string v2, "manifestDigest"
    const-string v3, "AndroidManifest.xml"
    invoke-static {p1, v2, v1, v3}, Lio/trustfuse/runtime/Attest;->swap(Ljava/lang/String;Ljava/lang/String;Ljava/util/zip/ZipFile;Ljava/lang/String;)Ljava/lang/String;
    move-result-object p1
    :runtime
    iget-object v2, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v3, "attest.runtimeDex"
    invoke-static {v2, v3}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    invoke-virtual {v3}, Ljava/lang/String;->length()I
    move-result v2
    if-eqz v2, :apps
    const-string v2, "runtimeDigest"
    invoke-static {p1, v2, v1, v3}, Lio/trustfuse/runtime/Attest;->swap(Ljava/lang/String;Ljava/lang/String;Ljava/util/zip/ZipFile;Ljava/lang/String;)Ljava/lang/String;
    move-result-object p1
    :apps
    # the app's own dex files, as installed: each must be a dexDigests key
    invoke-virtual {v1}, Ljava/util/zip/ZipFile;->entries()Ljava/util/Enumeration;
    move-result-object v4
    const/4 v6, 0x0
    :next
    invoke-interface {v4}, Ljava/util/Enumeration;->hasMoreElements()Z
    move-result v2
    if-eqz v2, :measured
    invoke-interface {v4}, Ljava/util/Enumeration;->nextElement()Ljava/lang/Object;
    move-result-object v5
    check-cast v5, Ljava/util/zip/ZipEntry;
    invoke-virtual {v5}, Ljava/util/zip/ZipEntry;->getName()Ljava/lang/String;
    move-result-object v5
    invoke-static {v5}, Lio/trustfuse/runtime/Attest;->dexName(Ljava/lang/String;)Z
    move-result v2
    if-eqz v2, :next
    invoke-virtual {v5, v3}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v2
    if-nez v2, :next
    const-string v0, "\""
    invoke-virtual {v0, v5}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v2, "\":\""
    invoke-virtual {v0, v2}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {p1, v0}, Ljava/lang/String;->contains(Ljava/lang/CharSequence;)Z
    move-result v2
    if-eqz v2, :unexpected
    invoke-static {p1, v5, v1, v5}, Lio/trustfuse/runtime/Attest;->swap(Ljava/lang/String;Ljava/lang/String;Ljava/util/zip/ZipFile;Ljava/lang/String;)Ljava/lang/String;
    move-result-object p1
    add-int/lit8 v6, v6, 0x1
    goto :next
    :unexpected
    new-instance v0, Ljava/io/IOException;
    const-string v2, "trustfuse: unexpected dex "
    invoke-virtual {v2, v5}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-direct {v0, v2}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
    :measured
    invoke-static {p1}, Lio/trustfuse/runtime/Attest;->dexKeys(Ljava/lang/String;)I
    move-result v2
    if-eq v2, v6, :counted
    new-instance v0, Ljava/io/IOException;
    const-string v2, "trustfuse: a dex the measurement lists is missing from the package"
    invoke-direct {v0, v2}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
    :counted
    nop
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :failed
    invoke-virtual {v1}, Ljava/util/zip/ZipFile;->close()V
    return-object p1
    :failed
    move-exception v2
    invoke-virtual {v1}, Ljava/util/zip/ZipFile;->close()V
    throw v2
.end method

# dexKeys(json) -> the number of keys of the "dexDigests" object (names and
# hex values hold no quotes: 4 quotes a key); 0 without one, -1 if unclosed
.method static dexKeys(Ljava/lang/String;)I
    .locals 5
    const/4 v2, 0x0
    const-string v0, "\"dexDigests\":{"
    invoke-virtual {p0, v0}, Ljava/lang/String;->indexOf(Ljava/lang/String;)I
    move-result v1
    if-ltz v1, :done
    invoke-virtual {v0}, Ljava/lang/String;->length()I
    move-result v0
    add-int/2addr v1, v0
    const/16 v0, 0x7d
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v3
    if-gez v3, :scan
    const/4 v2, -0x1
    return v2
    :scan
    const/16 v0, 0x22
    :quote
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v4
    if-ltz v4, :done
    if-ge v4, v3, :done
    add-int/lit8 v2, v2, 0x1
    add-int/lit8 v1, v4, 0x1
    goto :quote
    :done
    div-int/lit8 v2, v2, 0x4
    return v2
.end method

# dexName(entry) -> the entry is "classes.dex" or "classesN.dex", N >= 2 in
# decimal without leading zeros (the files ART loads as the app's code; no
# directories)
.method static dexName(Ljava/lang/String;)Z
    .locals 4
    const-string v0, "classes"
    invoke-virtual {p0, v0}, Ljava/lang/String;->startsWith(Ljava/lang/String;)Z
    move-result v0
    if-eqz v0, :no
    const-string v0, ".dex"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v0
    if-eqz v0, :no
    # N is name[7, length-4)
    invoke-virtual {p0}, Ljava/lang/String;->length()I
    move-result v0
    add-int/lit8 v0, v0, -0x4
    const/4 v1, 0x7
    if-lt v0, v1, :no
    if-eq v0, v1, :yes
    invoke-virtual {p0, v1}, Ljava/lang/String;->charAt(I)C
    move-result v2
    const/16 v3, 0x31
    if-lt v2, v3, :no
    :digit
    if-ge v1, v0, :one
    invoke-virtual {p0, v1}, Ljava/lang/String;->charAt(I)C
    move-result v2
    const/16 v3, 0x30
    if-lt v2, v3, :no
    const/16 v3, 0x39
    if-gt v2, v3, :no
    add-int/lit8 v1, v1, 0x1
    goto :digit
    :one
    # "classes1.dex" is not one of them
    const/16 v1, 0x8
    if-ne v0, v1, :yes
    const/4 v1, 0x7
    invoke-virtual {p0, v1}, Ljava/lang/String;->charAt(I)C
    move-result v2
    const/16 v3, 0x31
    if-eq v2, v3, :no
    :yes
    const/4 v0, 0x1
    return v0
    :no
    const/4 v0, 0x0
    return v0
.end method

# swap(json, key, zip, entry) -> json with "key":"<expected hex>" replaced by
# "key":"<hex SHA-256 of entry>" (canonical JSON: no spaces)
.method static swap(Ljava/lang/String;Ljava/lang/String;Ljava/util/zip/ZipFile;Ljava/lang/String;)Ljava/lang/String;
    .locals 4
    invoke-static {p0, p1}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {p2, p3}, Ljava/util/zip/ZipFile;->getEntry(Ljava/lang/String;)Ljava/util/zip/ZipEntry;
    move-result-object v1
    if-nez v1, :found
    new-instance v0, Ljava/io/IOException;
    const-string v1, "trustfuse: cannot measure "
    invoke-virtual {v1, p3}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-direct {v0, v1}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
    :found
    invoke-virtual {p2, v1}, Ljava/util/zip/ZipFile;->getInputStream(Ljava/util/zip/ZipEntry;)Ljava/io/InputStream;
    move-result-object v1
    invoke-static {v1}, Lio/trustfuse/runtime/U;->sha256(Ljava/io/InputStream;)[B
    move-result-object v1
    invoke-static {v1}, Lio/trustfuse/runtime/U;->hex([B)Ljava/lang/String;
    move-result-object v1
    const-string v2, "\""
    invoke-virtual {v2, p1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    const-string v3, "\":\""
    invoke-virtual {v2, v3}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-virtual {v2, v0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    invoke-virtual {v2, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-virtual {p0, v3, v2}, Ljava/lang/String;->replace(Ljava/lang/CharSequence;Ljava/lang/CharSequence;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

# threats() -> "\"a\",\"b\"": the distinct threatCodes of ThreatEvents.recorded(), in order
.method static threats()Ljava/lang/String;
    .locals 5
    new-instance v0, Ljava/util/LinkedHashSet;
    invoke-direct {v0}, Ljava/util/LinkedHashSet;-><init>()V
    invoke-static {}, Lio/trustfuse/runtime/ThreatEvents;->recorded()Ljava/util/List;
    move-result-object v1
    invoke-interface {v1}, Ljava/util/List;->iterator()Ljava/util/Iterator;
    move-result-object v1
    :collect
    invoke-interface {v1}, Ljava/util/Iterator;->hasNext()Z
    move-result v2
    if-eqz v2, :join
    invoke-interface {v1}, Ljava/util/Iterator;->next()Ljava/lang/Object;
    move-result-object v2
    check-cast v2, Ljava/util/Map;
    const-string v3, "threatCode"
    invoke-interface {v2, v3}, Ljava/util/Map;->get(Ljava/lang/Object;)Ljava/lang/Object;
    move-result-object v2
    if-eqz v2, :collect
    invoke-interface {v0, v2}, Ljava/util/Set;->add(Ljava/lang/Object;)Z
    goto :collect
    :join
    new-instance v2, Ljava/lang/StringBuilder;
    invoke-direct {v2}, Ljava/lang/StringBuilder;-><init>()V
    invoke-interface {v0}, Ljava/util/Set;->iterator()Ljava/util/Iterator;
    move-result-object v1
    :next
    invoke-interface {v1}, Ljava/util/Iterator;->hasNext()Z
    move-result v3
    if-eqz v3, :done
    invoke-virtual {v2}, Ljava/lang/StringBuilder;->length()I
    move-result v3
    if-eqz v3, :quote
    const/16 v3, 0x2c
    invoke-virtual {v2, v3}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    :quote
    const/16 v3, 0x22
    invoke-virtual {v2, v3}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    invoke-interface {v1}, Ljava/util/Iterator;->next()Ljava/lang/Object;
    move-result-object v4
    check-cast v4, Ljava/lang/String;
    invoke-virtual {v2, v4}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v2, v3}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    goto :next
    :done
    invoke-virtual {v2}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

# post(url, json) -> response body (HTTP 200 only)
.method static post(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    .locals 4
    new-instance v0, Ljava/net/URL;
    invoke-direct {v0, p0}, Ljava/net/URL;-><init>(Ljava/lang/String;)V
    invoke-virtual {v0}, Ljava/net/URL;->openConnection()Ljava/net/URLConnection;
    move-result-object v0
    check-cast v0, Ljava/net/HttpURLConnection;
    const-string v1, "POST"
    invoke-virtual {v0, v1}, Ljava/net/HttpURLConnection;->setRequestMethod(Ljava/lang/String;)V
    const/4 v1, 0x1
    invoke-virtual {v0, v1}, Ljava/net/URLConnection;->setDoOutput(Z)V
    const/16 v1, 0x2710
    invoke-virtual {v0, v1}, Ljava/net/URLConnection;->setConnectTimeout(I)V
    invoke-virtual {v0, v1}, Ljava/net/URLConnection;->setReadTimeout(I)V
    const-string v1, "Content-Type"
    const-string v2, "application/json"
    invoke-virtual {v0, v1, v2}, Ljava/net/URLConnection;->setRequestProperty(Ljava/lang/String;Ljava/lang/String;)V
    invoke-virtual {v0}, Ljava/net/URLConnection;->getOutputStream()Ljava/io/OutputStream;
    move-result-object v1
    const-string v2, "UTF-8"
    invoke-virtual {p1, v2}, Ljava/lang/String;->getBytes(Ljava/lang/String;)[B
    move-result-object v2
    invoke-virtual {v1, v2}, Ljava/io/OutputStream;->write([B)V
    invoke-virtual {v1}, Ljava/io/OutputStream;->close()V
    invoke-virtual {v0}, Ljava/net/HttpURLConnection;->getResponseCode()I
    move-result v1
    const/16 v2, 0xc8
    if-eq v1, v2, :ok
    invoke-static {v1}, Ljava/lang/String;->valueOf(I)Ljava/lang/String;
    move-result-object v1
    const-string v2, "trustfuse: attestation: HTTP status "
    invoke-virtual {v2, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    # serve's refusal reason ({"error": reason}, debug mode), at most 256 bytes
    :try_start_err
    invoke-virtual {v0}, Ljava/net/HttpURLConnection;->getErrorStream()Ljava/io/InputStream;
    move-result-object v2
    if-eqz v2, :noreason
    const/16 v3, 0x100
    invoke-static {v2, v3}, Lio/trustfuse/runtime/Attest;->head(Ljava/io/InputStream;I)Ljava/lang/String;
    move-result-object v2
    const-string v3, ": "
    invoke-virtual {v1, v3}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-virtual {v1, v2}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    :try_end_err
    .catch Ljava/io/IOException; {:try_start_err .. :try_end_err} :noreason
    :noreason
    invoke-virtual {v0}, Ljava/net/HttpURLConnection;->disconnect()V
    new-instance v2, Ljava/io/IOException;
    invoke-direct {v2, v1}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v2
    :ok
    invoke-virtual {v0}, Ljava/net/URLConnection;->getInputStream()Ljava/io/InputStream;
    move-result-object v1
    const/high16 v2, 0x100000
    invoke-static {v1, v2}, Lio/trustfuse/runtime/U;->readAll(Ljava/io/InputStream;I)[B
    move-result-object v1
    new-instance v2, Ljava/lang/String;
    const-string v3, "UTF-8"
    invoke-direct {v2, v1, v3}, Ljava/lang/String;-><init>([BLjava/lang/String;)V
    return-object v2
.end method

# field(json, name) -> the string value of "name" (flat objects, no escapes)
.method static field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    .locals 3
    const-string v0, "\""
    invoke-virtual {v0, p1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "\""
    invoke-virtual {v0, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {p0, v0}, Ljava/lang/String;->indexOf(Ljava/lang/String;)I
    move-result v1
    if-ltz v1, :bad
    invoke-virtual {v0}, Ljava/lang/String;->length()I
    move-result v0
    add-int/2addr v1, v0
    const/16 v0, 0x3a
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v1
    if-ltz v1, :bad
    const/16 v0, 0x22
    add-int/lit8 v1, v1, 0x1
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v1
    if-ltz v1, :bad
    add-int/lit8 v1, v1, 0x1
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v2
    if-ltz v2, :bad
    invoke-virtual {p0, v1, v2}, Ljava/lang/String;->substring(II)Ljava/lang/String;
    move-result-object v0
    return-object v0
    :bad
    const-string v0, "trustfuse: attestation response lacks "
    invoke-virtual {v0, p1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    new-instance v1, Ljava/io/IOException;
    invoke-direct {v1, v0}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v1
.end method

# head(in, max) -> at most max bytes of in as UTF-8 text, trimmed; in is closed
.method static head(Ljava/io/InputStream;I)Ljava/lang/String;
    .locals 4
    new-array v0, p1, [B
    const/4 v1, 0x0
    :read
    sub-int v2, p1, v1
    if-lez v2, :full
    invoke-virtual {p0, v0, v1, v2}, Ljava/io/InputStream;->read([BII)I
    move-result v2
    if-ltz v2, :full
    add-int/2addr v1, v2
    goto :read
    :full
    invoke-virtual {p0}, Ljava/io/InputStream;->close()V
    new-instance v2, Ljava/lang/String;
    const/4 v3, 0x0
    invoke-direct {v2, v0, v3, v1}, Ljava/lang/String;-><init>([BII)V
    invoke-virtual {v2}, Ljava/lang/String;->trim()Ljava/lang/String;
    move-result-object v2
    return-object v2
.end method

# fetching() -> this thread is fetching a token or a certificate
.method static fetching()Z
    .locals 1
    sget-object v0, Lio/trustfuse/runtime/Attest;->busy:Ljava/lang/ThreadLocal;
    invoke-virtual {v0}, Ljava/lang/ThreadLocal;->get()Ljava/lang/Object;
    move-result-object v0
    if-eqz v0, :no
    const/4 v0, 0x1
    return v0
    :no
    const/4 v0, 0x0
    return v0
.end method

# certificate(guard, alias) -> the /v1/certificate response for a new key
# under alias (Identity's thread; no token header on its own requests)
.method static certificate(Lio/trustfuse/runtime/Guard;Ljava/lang/String;)Ljava/lang/String;
    .locals 4
    sget-object v0, Lio/trustfuse/runtime/Attest;->key:[B
    if-eqz v0, :unavailable
    array-length v1, v0
    if-eqz v1, :unavailable
    sget-object v1, Lio/trustfuse/runtime/Attest;->busy:Ljava/lang/ThreadLocal;
    sget-object v2, Ljava/lang/Boolean;->TRUE:Ljava/lang/Boolean;
    invoke-virtual {v1, v2}, Ljava/lang/ThreadLocal;->set(Ljava/lang/Object;)V
    :try_start
    const-string v2, "/v1/certificate"
    invoke-static {p0, v0, v2, p1}, Lio/trustfuse/runtime/Attest;->fetch(Lio/trustfuse/runtime/Guard;[BLjava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    :try_end
    .catchall {:try_start .. :try_end} :fin
    invoke-virtual {v1}, Ljava/lang/ThreadLocal;->remove()V
    return-object v3
    :fin
    move-exception v0
    invoke-virtual {v1}, Ljava/lang/ThreadLocal;->remove()V
    throw v0
    :unavailable
    new-instance v0, Ljava/io/IOException;
    const-string v1, "trustfuse: attestation unavailable: no attestation key in the vault"
    invoke-direct {v0, v1}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

# remember(certificateResponse): caches its token (cnf: the issued
# certificate) like token() caches one from /v1/attest
.method static remember(Ljava/lang/String;)V
    .locals 6
    const-string v0, "token"
    invoke-static {p0, v0}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    sget-object v1, Lio/trustfuse/runtime/Attest;->guard:Lio/trustfuse/runtime/Guard;
    const-string v2, "tokenExpiresAt"
    invoke-static {v1, p0, v2}, Lio/trustfuse/runtime/Attest;->lifetime(Lio/trustfuse/runtime/Guard;Ljava/lang/String;Ljava/lang/String;)J
    move-result-wide v2
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v4
    add-long/2addr v2, v4
    sput-wide v2, Lio/trustfuse/runtime/Attest;->until:J
    sput-object v0, Lio/trustfuse/runtime/Attest;->cached:Ljava/lang/String;
    return-void
.end method
