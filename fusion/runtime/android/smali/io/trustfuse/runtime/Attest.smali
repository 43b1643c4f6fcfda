# Attest: minimal attestation client for `trustfuse serve`:
# POST <endpoint>/v1/challenge -> {"nonce": …}; POST <endpoint>/v1/attest with
# {"nonce": …, "measurement": {…}} -> {"token": …}. The caller attaches the
# token under headerName(context). Plain HttpURLConnection, so the calls go
# through the runtime's default SSLContext (client certificate + pin).
.class public final Lio/trustfuse/runtime/Attest;
.super Ljava/lang/Object;


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

# token(context) -> a token from the policy's attest.endpoint for this install
.method public static token(Landroid/content/Context;)Ljava/lang/String;
    .locals 5
    invoke-static {p0}, Lio/trustfuse/runtime/Attest;->policy(Landroid/content/Context;)Ljava/util/Properties;
    move-result-object v1
    const-string v2, "attest.endpoint"
    invoke-static {v1, v2}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-virtual {v2}, Ljava/lang/String;->length()I
    move-result v3
    if-nez v3, :ok
    new-instance v0, Ljava/io/IOException;
    const-string v1, "trustfuse: no attestation endpoint in the policy"
    invoke-direct {v0, v1}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v0
    :ok
    invoke-virtual {p0}, Landroid/content/Context;->getPackageName()Ljava/lang/String;
    move-result-object v3
    new-instance v0, Ljava/lang/StringBuilder;
    const-string v4, "{\"package\":\""
    invoke-direct {v0, v4}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v0, v3}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v4, "\",\"signer\":\""
    invoke-virtual {v0, v4}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-static {p0, v3}, Lio/trustfuse/runtime/Init;->signer(Landroid/content/Context;Ljava/lang/String;)[B
    move-result-object v4
    invoke-static {v4}, Lio/trustfuse/runtime/U;->hex([B)Ljava/lang/String;
    move-result-object v4
    invoke-virtual {v0, v4}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v4, "\",\"fusedAppToken\":\""
    invoke-virtual {v0, v4}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v4, "fusedAppToken"
    invoke-static {v1, v4}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v4
    invoke-virtual {v0, v4}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v4, "\"}"
    invoke-virtual {v0, v4}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    invoke-static {v2, v0}, Lio/trustfuse/runtime/Attest;->token(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

# token(endpoint, measurementJSON) -> token
.method public static token(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    .locals 3
    const-string v0, "/v1/challenge"
    invoke-virtual {p0, v0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "{}"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/Attest;->post(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "nonce"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    new-instance v1, Ljava/lang/StringBuilder;
    const-string v2, "{\"nonce\":\""
    invoke-direct {v1, v2}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v1, v0}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v2, "\",\"measurement\":"
    invoke-virtual {v1, v2}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v1, p1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v2, "}"
    invoke-virtual {v1, v2}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v1}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v1
    const-string v0, "/v1/attest"
    invoke-virtual {p0, v0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0, v1}, Lio/trustfuse/runtime/Attest;->post(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "token"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
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
    invoke-virtual {v0}, Ljava/net/HttpURLConnection;->disconnect()V
    invoke-static {v1}, Ljava/lang/String;->valueOf(I)Ljava/lang/String;
    move-result-object v1
    const-string v2, "trustfuse: attestation: HTTP status "
    invoke-virtual {v2, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
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
