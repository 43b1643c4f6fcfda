# KmfSpi: KeyManagerFactorySpi returning the runtime's key manager, unless
# the caller initialises it with its own key material (then the previous
# provider's factory does the work).
.class final Lio/trustfuse/runtime/KmfSpi;
.super Ljavax/net/ssl/KeyManagerFactorySpi;


.field final km:Lio/trustfuse/runtime/Km;
.field final next:Ljava/security/Provider;
.field final alg:Ljava/lang/String;
.field other:Ljavax/net/ssl/KeyManagerFactory;


.method constructor <init>(Lio/trustfuse/runtime/Km;Ljava/security/Provider;Ljava/lang/String;)V
    .locals 0
    invoke-direct {p0}, Ljavax/net/ssl/KeyManagerFactorySpi;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/KmfSpi;->km:Lio/trustfuse/runtime/Km;
    iput-object p2, p0, Lio/trustfuse/runtime/KmfSpi;->next:Ljava/security/Provider;
    iput-object p3, p0, Lio/trustfuse/runtime/KmfSpi;->alg:Ljava/lang/String;
    return-void
.end method

.method public engineInit(Ljava/security/KeyStore;[C)V
    .locals 2
    if-eqz p1, :ours
    iget-object v0, p0, Lio/trustfuse/runtime/KmfSpi;->next:Ljava/security/Provider;
    if-eqz v0, :ours
    iget-object v1, p0, Lio/trustfuse/runtime/KmfSpi;->alg:Ljava/lang/String;
    invoke-static {v1, v0}, Ljavax/net/ssl/KeyManagerFactory;->getInstance(Ljava/lang/String;Ljava/security/Provider;)Ljavax/net/ssl/KeyManagerFactory;
    move-result-object v0
    invoke-virtual {v0, p1, p2}, Ljavax/net/ssl/KeyManagerFactory;->init(Ljava/security/KeyStore;[C)V
    iput-object v0, p0, Lio/trustfuse/runtime/KmfSpi;->other:Ljavax/net/ssl/KeyManagerFactory;
    :ours
    return-void
.end method

.method public engineInit(Ljavax/net/ssl/ManagerFactoryParameters;)V
    .locals 2
    if-eqz p1, :ours
    iget-object v0, p0, Lio/trustfuse/runtime/KmfSpi;->next:Ljava/security/Provider;
    if-eqz v0, :ours
    iget-object v1, p0, Lio/trustfuse/runtime/KmfSpi;->alg:Ljava/lang/String;
    invoke-static {v1, v0}, Ljavax/net/ssl/KeyManagerFactory;->getInstance(Ljava/lang/String;Ljava/security/Provider;)Ljavax/net/ssl/KeyManagerFactory;
    move-result-object v0
    invoke-virtual {v0, p1}, Ljavax/net/ssl/KeyManagerFactory;->init(Ljavax/net/ssl/ManagerFactoryParameters;)V
    iput-object v0, p0, Lio/trustfuse/runtime/KmfSpi;->other:Ljavax/net/ssl/KeyManagerFactory;
    :ours
    return-void
.end method

.method public engineGetKeyManagers()[Ljavax/net/ssl/KeyManager;
    .locals 3
    iget-object v0, p0, Lio/trustfuse/runtime/KmfSpi;->other:Ljavax/net/ssl/KeyManagerFactory;
    if-eqz v0, :ours
    invoke-virtual {v0}, Ljavax/net/ssl/KeyManagerFactory;->getKeyManagers()[Ljavax/net/ssl/KeyManager;
    move-result-object v0
    return-object v0
    :ours
    const/4 v0, 0x1
    new-array v0, v0, [Ljavax/net/ssl/KeyManager;
    iget-object v1, p0, Lio/trustfuse/runtime/KmfSpi;->km:Lio/trustfuse/runtime/Km;
    const/4 v2, 0x0
    aput-object v1, v0, v2
    return-object v0
.end method
