# Tm: the pinning trust manager (API 24+, where X509ExtendedTrustManager
# exists). Protected hosts (policy mtls.hosts) are validated against the
# pinned CAs only (with the platform PKIX validator and its hostname check);
# every other host goes to the platform trust manager unchanged.
.class final Lio/trustfuse/runtime/Tm;
.super Ljavax/net/ssl/X509ExtendedTrustManager;


.field final g:Lio/trustfuse/runtime/Guard;
# p: platform trust manager; q: trust manager over the pinned CAs (or null)
.field final p:Ljavax/net/ssl/X509TrustManager;
.field final q:Ljavax/net/ssl/X509TrustManager;


.method constructor <init>(Lio/trustfuse/runtime/Guard;Ljavax/net/ssl/X509TrustManager;Ljavax/net/ssl/X509TrustManager;)V
    .locals 0
    invoke-direct {p0}, Ljavax/net/ssl/X509ExtendedTrustManager;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/Tm;->g:Lio/trustfuse/runtime/Guard;
    iput-object p2, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    iput-object p3, p0, Lio/trustfuse/runtime/Tm;->q:Ljavax/net/ssl/X509TrustManager;
    return-void
.end method

# delegate(tm, chain, authType, socket/engine/null): the most specific checkServerTrusted
.method static delegate(Ljavax/net/ssl/X509TrustManager;[Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/Object;)V
    .locals 1
    instance-of v0, p0, Ljavax/net/ssl/X509ExtendedTrustManager;
    if-eqz v0, :plain
    instance-of v0, p3, Ljava/net/Socket;
    if-eqz v0, :engine
    check-cast p0, Ljavax/net/ssl/X509ExtendedTrustManager;
    check-cast p3, Ljava/net/Socket;
    invoke-virtual {p0, p1, p2, p3}, Ljavax/net/ssl/X509ExtendedTrustManager;->checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/net/Socket;)V
    return-void
    :engine
    instance-of v0, p3, Ljavax/net/ssl/SSLEngine;
    if-eqz v0, :plain
    check-cast p0, Ljavax/net/ssl/X509ExtendedTrustManager;
    check-cast p3, Ljavax/net/ssl/SSLEngine;
    invoke-virtual {p0, p1, p2, p3}, Ljavax/net/ssl/X509ExtendedTrustManager;->checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljavax/net/ssl/SSLEngine;)V
    return-void
    :plain
    invoke-interface {p0, p1, p2}, Ljavax/net/ssl/X509TrustManager;->checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    return-void
.end method

# verify(chain, authType, host, conn)
.method verify([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/String;Ljava/lang/Object;)V
    .locals 6
    iget-object v0, p0, Lio/trustfuse/runtime/Tm;->g:Lio/trustfuse/runtime/Guard;
    invoke-virtual {v0, p3}, Lio/trustfuse/runtime/Guard;->protectedHost(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :protected
    iget-object v1, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-static {v1, p1, p2, p4}, Lio/trustfuse/runtime/Tm;->delegate(Ljavax/net/ssl/X509TrustManager;[Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/Object;)V
    return-void
    :protected
    invoke-virtual {v0}, Lio/trustfuse/runtime/Guard;->await()V
    iget-boolean v1, v0, Lio/trustfuse/runtime/Guard;->blocked:Z
    if-eqz v1, :open
    new-instance v1, Ljava/security/cert/CertificateException;
    const-string v2, "trustfuse: connection to a protected host refused (threat defended)"
    invoke-direct {v1, v2}, Ljava/security/cert/CertificateException;-><init>(Ljava/lang/String;)V
    throw v1
    :open
    const-string v1, "mitm"
    invoke-virtual {v0, v1}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    if-nez v2, :pin
    iget-object v3, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-static {v3, p1, p2, p4}, Lio/trustfuse/runtime/Tm;->delegate(Ljavax/net/ssl/X509TrustManager;[Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/Object;)V
    return-void
    :pin
    :try_start
    iget-object v3, p0, Lio/trustfuse/runtime/Tm;->q:Ljavax/net/ssl/X509TrustManager;
    if-nez v3, :haveq
    new-instance v3, Ljava/security/cert/CertificateException;
    const-string v4, "no pinned CA in the policy"
    invoke-direct {v3, v4}, Ljava/security/cert/CertificateException;-><init>(Ljava/lang/String;)V
    throw v3
    :haveq
    invoke-static {v3, p1, p2, p4}, Lio/trustfuse/runtime/Tm;->delegate(Ljavax/net/ssl/X509TrustManager;[Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/Object;)V
    :try_end
    .catch Ljava/security/cert/CertificateException; {:try_start .. :try_end} :pinfail
    return-void
    :pinfail
    move-exception v3
    new-instance v4, Ljava/lang/StringBuilder;
    invoke-static {p3}, Ljava/lang/String;->valueOf(Ljava/lang/Object;)Ljava/lang/String;
    move-result-object v5
    invoke-direct {v4, v5}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    const-string v5, ": "
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v3}, Ljava/lang/Throwable;->getMessage()Ljava/lang/String;
    move-result-object v5
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v4}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v4
    const-string v5, "PIN_MISMATCH"
    invoke-static {v5, v4}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v4
    invoke-virtual {v0, v1, v4}, Lio/trustfuse/runtime/Guard;->fire(Ljava/lang/String;[Ljava/lang/String;)V
    const-string v4, "defend"
    invoke-virtual {v4, v2}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v4
    if-eqz v4, :detect
    throw v3
    :detect
    iget-object v4, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-static {v4, p1, p2, p4}, Lio/trustfuse/runtime/Tm;->delegate(Ljavax/net/ssl/X509TrustManager;[Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/Object;)V
    return-void
.end method

.method public checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/net/Socket;)V
    .locals 2
    const/4 v0, 0x0
    instance-of v1, p3, Ljavax/net/ssl/SSLSocket;
    if-eqz v1, :go
    move-object v1, p3
    check-cast v1, Ljavax/net/ssl/SSLSocket;
    invoke-virtual {v1}, Ljavax/net/ssl/SSLSocket;->getHandshakeSession()Ljavax/net/ssl/SSLSession;
    move-result-object v1
    if-eqz v1, :go
    invoke-interface {v1}, Ljavax/net/ssl/SSLSession;->getPeerHost()Ljava/lang/String;
    move-result-object v0
    :go
    invoke-virtual {p0, p1, p2, v0, p3}, Lio/trustfuse/runtime/Tm;->verify([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/String;Ljava/lang/Object;)V
    return-void
.end method

.method public checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljavax/net/ssl/SSLEngine;)V
    .locals 1
    const/4 v0, 0x0
    if-eqz p3, :go
    invoke-virtual {p3}, Ljavax/net/ssl/SSLEngine;->getPeerHost()Ljava/lang/String;
    move-result-object v0
    :go
    invoke-virtual {p0, p1, p2, v0, p3}, Lio/trustfuse/runtime/Tm;->verify([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/String;Ljava/lang/Object;)V
    return-void
.end method

# without a socket or engine the host is unknown: platform validation only
.method public checkServerTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    .locals 1
    const/4 v0, 0x0
    invoke-virtual {p0, p1, p2, v0, v0}, Lio/trustfuse/runtime/Tm;->verify([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/lang/String;Ljava/lang/Object;)V
    return-void
.end method

.method public checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    .locals 1
    iget-object v0, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-interface {v0, p1, p2}, Ljavax/net/ssl/X509TrustManager;->checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    return-void
.end method

.method public checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljava/net/Socket;)V
    .locals 1
    iget-object v0, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-interface {v0, p1, p2}, Ljavax/net/ssl/X509TrustManager;->checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    return-void
.end method

.method public checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;Ljavax/net/ssl/SSLEngine;)V
    .locals 1
    iget-object v0, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-interface {v0, p1, p2}, Ljavax/net/ssl/X509TrustManager;->checkClientTrusted([Ljava/security/cert/X509Certificate;Ljava/lang/String;)V
    return-void
.end method

.method public getAcceptedIssuers()[Ljava/security/cert/X509Certificate;
    .locals 1
    iget-object v0, p0, Lio/trustfuse/runtime/Tm;->p:Ljavax/net/ssl/X509TrustManager;
    invoke-interface {v0}, Ljavax/net/ssl/X509TrustManager;->getAcceptedIssuers()[Ljava/security/cert/X509Certificate;
    move-result-object v0
    return-object v0
.end method
