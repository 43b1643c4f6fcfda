# Install: builds the identity (in-memory KeyStore + KeyManagerFactory), the
# pinning TrustManager and the SSLContext, and installs them process-wide.
.class final Lio/trustfuse/runtime/Install;
.super Ljava/lang/Object;

# kms, tms: what install() built the SSLContext from (kms null without an
# identity), for refresh()
.field static volatile kms:[Ljavax/net/ssl/KeyManager;
.field static volatile tms:[Ljavax/net/ssl/TrustManager;


.method private constructor <init>()V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

# keyManager(guard, {PrivateKey, X509Certificate[], attestKey}) -> gated key manager
.method static keyManager(Lio/trustfuse/runtime/Guard;[Ljava/lang/Object;)Lio/trustfuse/runtime/Km;
    .locals 7
    invoke-static {}, Ljava/security/KeyStore;->getDefaultType()Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Ljava/security/KeyStore;->getInstance(Ljava/lang/String;)Ljava/security/KeyStore;
    move-result-object v0
    const/4 v1, 0x0
    invoke-virtual {v0, v1, v1}, Ljava/security/KeyStore;->load(Ljava/io/InputStream;[C)V
    const-string v2, "trustfuse"
    invoke-virtual {v2}, Ljava/lang/String;->toCharArray()[C
    move-result-object v2
    const/4 v3, 0x0
    aget-object v4, p1, v3
    check-cast v4, Ljava/security/PrivateKey;
    const/4 v3, 0x1
    aget-object v5, p1, v3
    check-cast v5, [Ljava/security/cert/X509Certificate;
    const-string v3, "trustfuse"
    invoke-virtual {v0, v3, v4, v2, v5}, Ljava/security/KeyStore;->setKeyEntry(Ljava/lang/String;Ljava/security/Key;[C[Ljava/security/cert/Certificate;)V
    invoke-static {}, Ljavax/net/ssl/KeyManagerFactory;->getDefaultAlgorithm()Ljava/lang/String;
    move-result-object v3
    invoke-static {v3}, Ljavax/net/ssl/KeyManagerFactory;->getInstance(Ljava/lang/String;)Ljavax/net/ssl/KeyManagerFactory;
    move-result-object v3
    invoke-virtual {v3, v0, v2}, Ljavax/net/ssl/KeyManagerFactory;->init(Ljava/security/KeyStore;[C)V
    invoke-virtual {v3}, Ljavax/net/ssl/KeyManagerFactory;->getKeyManagers()[Ljavax/net/ssl/KeyManager;
    move-result-object v3
    const/4 v4, 0x0
    aget-object v3, v3, v4
    check-cast v3, Ljavax/net/ssl/X509KeyManager;
    new-instance v4, Lio/trustfuse/runtime/Km;
    invoke-direct {v4, p0, v3}, Lio/trustfuse/runtime/Km;-><init>(Lio/trustfuse/runtime/Guard;Ljavax/net/ssl/X509KeyManager;)V
    const/4 v6, 0x0
    aget-object v5, v5, v6
    invoke-virtual {v5}, Ljava/security/cert/X509Certificate;->getSubjectX500Principal()Ljavax/security/auth/x500/X500Principal;
    move-result-object v5
    invoke-static {v5}, Ljava/lang/String;->valueOf(Ljava/lang/Object;)Ljava/lang/String;
    move-result-object v5
    const-string v6, "trustfuse: client certificate unsealed: "
    invoke-virtual {v6, v5}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v5
    invoke-static {v5}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    return-object v4
.end method

# install(guard, km or null): default SSLContext, HttpsURLConnection factory, KeyManagerFactory provider
.method static install(Lio/trustfuse/runtime/Guard;Lio/trustfuse/runtime/Km;)V
    .locals 8
    const/4 v0, 0x0
    invoke-static {v0}, Lio/trustfuse/runtime/Install;->trustManager(Ljava/security/KeyStore;)Ljavax/net/ssl/X509TrustManager;
    move-result-object v0
    const/4 v3, 0x0
    invoke-static {p0}, Lio/trustfuse/runtime/Install;->pinnedStore(Lio/trustfuse/runtime/Guard;)Ljava/security/KeyStore;
    move-result-object v1
    if-eqz v1, :nopin
    invoke-static {v1}, Lio/trustfuse/runtime/Install;->trustManager(Ljava/security/KeyStore;)Ljavax/net/ssl/X509TrustManager;
    move-result-object v3
    :nopin
    const/4 v4, 0x1
    new-array v4, v4, [Ljavax/net/ssl/TrustManager;
    const/4 v5, 0x0
    sget v2, Landroid/os/Build$VERSION;->SDK_INT:I
    const/16 v6, 0x18
    if-lt v2, v6, :legacy
    new-instance v2, Lio/trustfuse/runtime/Tm;
    invoke-direct {v2, p0, v0, v3}, Lio/trustfuse/runtime/Tm;-><init>(Lio/trustfuse/runtime/Guard;Ljavax/net/ssl/X509TrustManager;Ljavax/net/ssl/X509TrustManager;)V
    aput-object v2, v4, v5
    goto :ctx
    :legacy
    new-instance v2, Lio/trustfuse/runtime/TmLegacy;
    invoke-direct {v2, p0, v0, v3}, Lio/trustfuse/runtime/TmLegacy;-><init>(Lio/trustfuse/runtime/Guard;Ljavax/net/ssl/X509TrustManager;Ljavax/net/ssl/X509TrustManager;)V
    aput-object v2, v4, v5
    :ctx
    const/4 v6, 0x0
    if-eqz p1, :nokm
    const/4 v6, 0x1
    new-array v6, v6, [Ljavax/net/ssl/KeyManager;
    aput-object p1, v6, v5
    :nokm
    sput-object v6, Lio/trustfuse/runtime/Install;->kms:[Ljavax/net/ssl/KeyManager;
    sput-object v4, Lio/trustfuse/runtime/Install;->tms:[Ljavax/net/ssl/TrustManager;
    const-string v7, "TLS"
    invoke-static {v7}, Ljavax/net/ssl/SSLContext;->getInstance(Ljava/lang/String;)Ljavax/net/ssl/SSLContext;
    move-result-object v7
    const/4 v2, 0x0
    invoke-virtual {v7, v6, v4, v2}, Ljavax/net/ssl/SSLContext;->init([Ljavax/net/ssl/KeyManager;[Ljavax/net/ssl/TrustManager;Ljava/security/SecureRandom;)V
    iput-object v7, p0, Lio/trustfuse/runtime/Guard;->ssl:Ljavax/net/ssl/SSLContext;
    invoke-static {v7}, Ljavax/net/ssl/SSLContext;->setDefault(Ljavax/net/ssl/SSLContext;)V
    invoke-virtual {v7}, Ljavax/net/ssl/SSLContext;->getSocketFactory()Ljavax/net/ssl/SSLSocketFactory;
    move-result-object v2
    invoke-static {v2}, Ljavax/net/ssl/HttpsURLConnection;->setDefaultSSLSocketFactory(Ljavax/net/ssl/SSLSocketFactory;)V
    if-eqz p1, :done
    new-instance v2, Lio/trustfuse/runtime/Prov;
    invoke-direct {v2, p1}, Lio/trustfuse/runtime/Prov;-><init>(Lio/trustfuse/runtime/Km;)V
    const/4 v5, 0x1
    invoke-static {v2, v5}, Ljava/security/Security;->insertProviderAt(Ljava/security/Provider;I)I
    :done
    return-void
.end method

# refresh(guard): a new SSLContext over the same key and trust managers,
# installed as install() does. Called when the attested identity changes:
# keep-alive pools are per socket factory and TLS sessions per context, so
# no connection or session made under the previous client certificate is
# reused with the token bound to the new one. No-op before install().
.method static refresh(Lio/trustfuse/runtime/Guard;)V
    .locals 4
    sget-object v0, Lio/trustfuse/runtime/Install;->tms:[Ljavax/net/ssl/TrustManager;
    if-nez v0, :go
    return-void
    :go
    sget-object v1, Lio/trustfuse/runtime/Install;->kms:[Ljavax/net/ssl/KeyManager;
    :try_start
    const-string v2, "TLS"
    invoke-static {v2}, Ljavax/net/ssl/SSLContext;->getInstance(Ljava/lang/String;)Ljavax/net/ssl/SSLContext;
    move-result-object v2
    const/4 v3, 0x0
    invoke-virtual {v2, v1, v0, v3}, Ljavax/net/ssl/SSLContext;->init([Ljavax/net/ssl/KeyManager;[Ljavax/net/ssl/TrustManager;Ljava/security/SecureRandom;)V
    iput-object v2, p0, Lio/trustfuse/runtime/Guard;->ssl:Ljavax/net/ssl/SSLContext;
    invoke-static {v2}, Ljavax/net/ssl/SSLContext;->setDefault(Ljavax/net/ssl/SSLContext;)V
    invoke-virtual {v2}, Ljavax/net/ssl/SSLContext;->getSocketFactory()Ljavax/net/ssl/SSLSocketFactory;
    move-result-object v2
    invoke-static {v2}, Ljavax/net/ssl/HttpsURLConnection;->setDefaultSSLSocketFactory(Ljavax/net/ssl/SSLSocketFactory;)V
    :try_end
    .catch Ljava/security/GeneralSecurityException; {:try_start .. :try_end} :err
    return-void
    :err
    move-exception v0
    const-string v1, "trustfuse: identity: TLS context not renewed"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    return-void
.end method

# trustManager(keystore or null) -> the first X509TrustManager of the default TrustManagerFactory
.method static trustManager(Ljava/security/KeyStore;)Ljavax/net/ssl/X509TrustManager;
    .locals 5
    invoke-static {}, Ljavax/net/ssl/TrustManagerFactory;->getDefaultAlgorithm()Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Ljavax/net/ssl/TrustManagerFactory;->getInstance(Ljava/lang/String;)Ljavax/net/ssl/TrustManagerFactory;
    move-result-object v0
    invoke-virtual {v0, p0}, Ljavax/net/ssl/TrustManagerFactory;->init(Ljava/security/KeyStore;)V
    invoke-virtual {v0}, Ljavax/net/ssl/TrustManagerFactory;->getTrustManagers()[Ljavax/net/ssl/TrustManager;
    move-result-object v0
    array-length v1, v0
    const/4 v2, 0x0
    :loop
    if-ge v2, v1, :none
    aget-object v3, v0, v2
    instance-of v4, v3, Ljavax/net/ssl/X509TrustManager;
    if-eqz v4, :next
    check-cast v3, Ljavax/net/ssl/X509TrustManager;
    return-object v3
    :next
    add-int/lit8 v2, v2, 0x1
    goto :loop
    :none
    new-instance v0, Ljava/security/KeyStoreException;
    const-string v1, "trustfuse: no X509TrustManager"
    invoke-direct {v0, v1}, Ljava/security/KeyStoreException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

# pinnedStore(guard) -> KeyStore holding the pinned CAs whose SPKI digest is pinned, or null
.method static pinnedStore(Lio/trustfuse/runtime/Guard;)Ljava/security/KeyStore;
    .locals 9
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "pin.cas"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-static {v1}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v1
    const-string v2, "pin.spki"
    invoke-static {v0, v2}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-static {v2}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v2
    array-length v3, v1
    invoke-static {}, Ljava/security/KeyStore;->getDefaultType()Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Ljava/security/KeyStore;->getInstance(Ljava/lang/String;)Ljava/security/KeyStore;
    move-result-object v0
    const/4 v4, 0x0
    invoke-virtual {v0, v4, v4}, Ljava/security/KeyStore;->load(Ljava/io/InputStream;[C)V
    const-string v4, "X.509"
    invoke-static {v4}, Ljava/security/cert/CertificateFactory;->getInstance(Ljava/lang/String;)Ljava/security/cert/CertificateFactory;
    move-result-object v4
    const/4 v8, 0x0
    const/4 v5, 0x0
    :loop
    if-ge v5, v3, :done
    aget-object v6, v1, v5
    invoke-static {v6}, Lio/trustfuse/runtime/U;->unhex(Ljava/lang/String;)[B
    move-result-object v6
    new-instance v7, Ljava/io/ByteArrayInputStream;
    invoke-direct {v7, v6}, Ljava/io/ByteArrayInputStream;-><init>([B)V
    invoke-virtual {v4, v7}, Ljava/security/cert/CertificateFactory;->generateCertificate(Ljava/io/InputStream;)Ljava/security/cert/Certificate;
    move-result-object v6
    invoke-virtual {v6}, Ljava/security/cert/Certificate;->getPublicKey()Ljava/security/PublicKey;
    move-result-object v7
    invoke-interface {v7}, Ljava/security/Key;->getEncoded()[B
    move-result-object v7
    invoke-static {v7}, Lio/trustfuse/runtime/U;->sha256([B)[B
    move-result-object v7
    invoke-static {v7}, Lio/trustfuse/runtime/U;->hex([B)Ljava/lang/String;
    move-result-object v7
    invoke-static {v2, v7}, Lio/trustfuse/runtime/U;->contains([Ljava/lang/String;Ljava/lang/String;)Z
    move-result v7
    if-eqz v7, :skip
    invoke-static {v5}, Ljava/lang/String;->valueOf(I)Ljava/lang/String;
    move-result-object v7
    invoke-virtual {v0, v7, v6}, Ljava/security/KeyStore;->setCertificateEntry(Ljava/lang/String;Ljava/security/cert/Certificate;)V
    add-int/lit8 v8, v8, 0x1
    goto :next
    :skip
    const-string v7, "trustfuse: pinned CA ignored: its SPKI digest is not pinned"
    invoke-static {v7}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    :next
    add-int/lit8 v5, v5, 0x1
    goto :loop
    :done
    if-nez v8, :some
    const/4 v0, 0x0
    :some
    return-object v0
.end method
