# KmfService: the Provider.Service for one KeyManagerFactory algorithm; it
# builds KmfSpi instances bound to the runtime's key manager.
.class final Lio/trustfuse/runtime/KmfService;
.super Ljava/security/Provider$Service;


.field km:Lio/trustfuse/runtime/Km;
.field next:Ljava/security/Provider;


.method constructor <init>(Ljava/security/Provider;Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/util/List;Ljava/util/Map;)V
    .locals 0
    invoke-direct/range {p0 .. p6}, Ljava/security/Provider$Service;-><init>(Ljava/security/Provider;Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/util/List;Ljava/util/Map;)V
    return-void
.end method

.method public newInstance(Ljava/lang/Object;)Ljava/lang/Object;
    .locals 4
    new-instance v0, Lio/trustfuse/runtime/KmfSpi;
    iget-object v1, p0, Lio/trustfuse/runtime/KmfService;->km:Lio/trustfuse/runtime/Km;
    iget-object v2, p0, Lio/trustfuse/runtime/KmfService;->next:Ljava/security/Provider;
    invoke-virtual {p0}, Ljava/security/Provider$Service;->getAlgorithm()Ljava/lang/String;
    move-result-object v3
    invoke-direct {v0, v1, v2, v3}, Lio/trustfuse/runtime/KmfSpi;-><init>(Lio/trustfuse/runtime/Km;Ljava/security/Provider;Ljava/lang/String;)V
    return-object v0
.end method
