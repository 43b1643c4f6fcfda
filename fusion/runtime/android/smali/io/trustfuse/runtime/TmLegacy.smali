# TmLegacy: the trust manager for API 21-23 (no X509ExtendedTrustManager, so
# no host name). A chain that validates against the pinned CAs is treated as
# a protected server (refused once a threat is defended); any other chain
# goes to the platform. The pin is therefore not enforced below API 24.
.class final Lio/trustfuse/runtime/TmLegacy;
.super Ljava/lang/Object;
.implements Ljavax/net/ssl/X509TrustManager;


.field final g:Lio/trustfuse/runtime/Guard;
.field final p:Ljavax/net/ssl/X509TrustManager;
.field final q:Ljavax/net/ssl/X509TrustManager;


.method constructor <init>(Lio/trustfuse/runtime/Guard;Ljavax/net/ssl/X509TrustManager;Ljavax/net/ssl/X509TrustManager;)V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/TmLegacy;->g:Lio/trustfuse/runtime/Guard;
    iput-object p2, p0, Lio/trustfuse/runtime/TmLegacy;->p:Ljavax/net/ssl/X509TrustManager;
    iput-object p3, p0, Lio/trustfuse/runtime/TmLegacy;->q:Ljavax/net/ssl/X509TrustManager;
    return-void
.end method

.method public checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    .locals 3
    iget-object v0, p0, Lio/trustfuse/runtime/TmLegacy;->q:Ljavax/net/ssl/X509TrustManager;
    if-eqz v0, :platform
    :try_start
    invoke-interface {v0, p1, p2}, Ljavax/net/ssl/X509TrustManager;->checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    :try_end
    .catch Ljava/security/cert/CertificateException; {:try_start .. :try_end} :platform
    iget-object v0, p0, Lio/trustfuse/runtime/TmLegacy;->g:Lio/trustfuse/runtime/Guard;
    invoke-virtual {v0}, Lio/trustfuse/runtime/Guard;->await()V
    iget-boolean v1, v0, Lio/trustfuse/runtime/Guard;->blocked:Z
    if-eqz v1, :ok
    new-instance v1, Ljava/security/cert/CertificateException;
    const-string v2, "trustfuse: connection to a protected host refused (threat defended)"
    invoke-direct {v1, v2}, Ljava/security/cert/CertificateException;-><init>(Ljava/lang/String;)V
    throw v1
    :ok
    return-void
    :platform
    iget-object v0, p0, Lio/trustfuse/runtime/TmLegacy;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-interface {v0, p1, p2}, Ljavax/net/ssl/X509TrustManager;->checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    return-void
.end method

.method public checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    .locals 1
    iget-object v0, p0, Lio/trustfuse/runtime/TmLegacy;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-interface {v0, p1, p2}, Ljavax/net/ssl/X509TrustManager;->checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    return-void
.end method

.method public getAcceptedIssuers()[Ljava/security/cert/X509Certificate;
    .locals 1
    iget-object v0, p0, Lio/trustfuse/runtime/TmLegacy;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-interface {v0}, Ljavax/net/ssl/X509TrustManager;->getAcceptedIssuers()[Ljava/security/cert/X509Certificate;
    move-result-object v0
    return-object v0
.end method
