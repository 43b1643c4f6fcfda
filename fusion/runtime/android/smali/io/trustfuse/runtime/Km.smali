# Km: the client key manager. It wraps the platform X509KeyManager built from
# the unsealed identity (d, embedded mode), or, when d is null (attested
# modes), serves the keystore key and issued chain Identity holds. It waits
# for the checks on the first handshake (and, attested, for the first
# certificate), and offers nothing once a defended threat withheld the
# certificate.
.class final Lio/trustfuse/runtime/Km;
.super Ljavax/net/ssl/X509ExtendedKeyManager;


.field final g:Lio/trustfuse/runtime/Guard;
# d: the embedded identity's key manager; null while Identity serves the
# attested one (attested-or-embedded sets it when the device cannot attest)
.field volatile d:Ljavax/net/ssl/X509KeyManager;


.method constructor <init>(Lio/trustfuse/runtime/Guard;Ljavax/net/ssl/X509KeyManager;)V
    .locals 0
    invoke-direct {p0}, Ljavax/net/ssl/X509ExtendedKeyManager;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/Km;->g:Lio/trustfuse/runtime/Guard;
    iput-object p2, p0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    return-void
.end method

# usable(wait) -> true while the certificate may be offered
.method usable(Z)Z
    .locals 1
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->g:Lio/trustfuse/runtime/Guard;
    if-eqz p1, :nowait
    invoke-virtual {v0}, Lio/trustfuse/runtime/Guard;->await()V
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    if-nez v0, :checked
    invoke-static {}, Lio/trustfuse/runtime/Identity;->await()V
    :checked
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->g:Lio/trustfuse/runtime/Guard;
    :nowait
    iget-boolean v0, v0, Lio/trustfuse/runtime/Guard;->withheld:Z
    xor-int/lit8 v0, v0, 0x1
    return v0
.end method

.method public chooseClientAlias([Ljava/lang/String;[Ljava/security/Principal;Ljava/net/Socket;)Ljava/lang/String;
    .locals 1
    const/4 v0, 0x1
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Km;->usable(Z)Z
    move-result v0
    if-eqz v0, :no
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    if-eqz v0, :attested
    invoke-interface {v0, p1, p2, p3}, Ljavax/net/ssl/X509KeyManager;->chooseClientAlias([Ljava/lang/String;[Ljava/security/Principal;Ljava/net/Socket;)Ljava/lang/String;
    move-result-object v0
    return-object v0
    :attested
    invoke-static {p1, p2}, Lio/trustfuse/runtime/Identity;->choose([Ljava/lang/String;[Ljava/security/Principal;)Ljava/lang/String;
    move-result-object v0
    return-object v0
    :no
    const/4 v0, 0x0
    return-object v0
.end method

.method public chooseEngineClientAlias([Ljava/lang/String;[Ljava/security/Principal;Ljavax/net/ssl/SSLEngine;)Ljava/lang/String;
    .locals 2
    const/4 v0, 0x1
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Km;->usable(Z)Z
    move-result v0
    if-eqz v0, :no
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    if-eqz v0, :attested
    const/4 v1, 0x0
    invoke-interface {v0, p1, p2, v1}, Ljavax/net/ssl/X509KeyManager;->chooseClientAlias([Ljava/lang/String;[Ljava/security/Principal;Ljava/net/Socket;)Ljava/lang/String;
    move-result-object v0
    return-object v0
    :attested
    invoke-static {p1, p2}, Lio/trustfuse/runtime/Identity;->choose([Ljava/lang/String;[Ljava/security/Principal;)Ljava/lang/String;
    move-result-object v0
    return-object v0
    :no
    const/4 v0, 0x0
    return-object v0
.end method

.method public getClientAliases(Ljava/lang/String;[Ljava/security/Principal;)[Ljava/lang/String;
    .locals 1
    const/4 v0, 0x0
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Km;->usable(Z)Z
    move-result v0
    if-eqz v0, :no
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    if-eqz v0, :attested
    invoke-interface {v0, p1, p2}, Ljavax/net/ssl/X509KeyManager;->getClientAliases(Ljava/lang/String;[Ljava/security/Principal;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :attested
    invoke-static {p1, p2}, Lio/trustfuse/runtime/Identity;->aliases(Ljava/lang/String;[Ljava/security/Principal;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :no
    const/4 v0, 0x0
    return-object v0
.end method

.method public getCertificateChain(Ljava/lang/String;)[Ljava/security/cert/X509Certificate;
    .locals 1
    const/4 v0, 0x0
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Km;->usable(Z)Z
    move-result v0
    if-eqz v0, :no
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    if-eqz v0, :attested
    invoke-interface {v0, p1}, Ljavax/net/ssl/X509KeyManager;->getCertificateChain(Ljava/lang/String;)[Ljava/security/cert/X509Certificate;
    move-result-object v0
    return-object v0
    :attested
    const/4 v0, 0x2
    invoke-static {p1, v0}, Lio/trustfuse/runtime/Identity;->part(Ljava/lang/String;I)Ljava/lang/Object;
    move-result-object v0
    check-cast v0, [Ljava/security/cert/X509Certificate;
    return-object v0
    :no
    const/4 v0, 0x0
    return-object v0
.end method

.method public getPrivateKey(Ljava/lang/String;)Ljava/security/PrivateKey;
    .locals 1
    const/4 v0, 0x0
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Km;->usable(Z)Z
    move-result v0
    if-eqz v0, :no
    iget-object v0, p0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    if-eqz v0, :attested
    invoke-interface {v0, p1}, Ljavax/net/ssl/X509KeyManager;->getPrivateKey(Ljava/lang/String;)Ljava/security/PrivateKey;
    move-result-object v0
    return-object v0
    :attested
    const/4 v0, 0x1
    invoke-static {p1, v0}, Lio/trustfuse/runtime/Identity;->part(Ljava/lang/String;I)Ljava/lang/Object;
    move-result-object v0
    check-cast v0, Ljava/security/PrivateKey;
    return-object v0
    :no
    const/4 v0, 0x0
    return-object v0
.end method

.method public getServerAliases(Ljava/lang/String;[Ljava/security/Principal;)[Ljava/lang/String;
    .locals 1
    const/4 v0, 0x0
    return-object v0
.end method

.method public chooseServerAlias(Ljava/lang/String;[Ljava/security/Principal;Ljava/net/Socket;)Ljava/lang/String;
    .locals 1
    const/4 v0, 0x0
    return-object v0
.end method
