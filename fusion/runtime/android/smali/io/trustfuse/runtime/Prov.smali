# Prov: a security provider inserted at position 1 serving KeyManagerFactory
# under the platform's default algorithm and the PKIX / SunX509 / NewSunX509 /
# X509 names the platform knows. kmf.init(null, …) (what Conscrypt's default
# key manager and other "default key managers" code paths do) yields the
# runtime's key manager; kmf.init(realKeyStore, …) is passed through to the
# provider that served the algorithm before.
.class final Lio/trustfuse/runtime/Prov;
.super Ljava/security/Provider;


.method constructor <init>(Lio/trustfuse/runtime/Km;)V
    .locals 12
    const-string v0, "TrustFuse"
    const-wide/high16 v1, 0x3ff0000000000000L
    const-string v3, "TrustFuse client identity for mutual TLS"
    invoke-direct {p0, v0, v1, v2, v3}, Ljava/security/Provider;-><init>(Ljava/lang/String;DLjava/lang/String;)V
    invoke-static {}, Ljavax/net/ssl/KeyManagerFactory;->getDefaultAlgorithm()Ljava/lang/String;
    move-result-object v0
    const-string v1, ",PKIX,SunX509,NewSunX509,X509"
    invoke-virtual {v0, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    array-length v1, v0
    const/4 v2, 0x0
    :loop
    if-ge v2, v1, :done
    aget-object v8, v0, v2
    :try_start
    invoke-static {v8}, Ljavax/net/ssl/KeyManagerFactory;->getInstance(Ljava/lang/String;)Ljavax/net/ssl/KeyManagerFactory;
    move-result-object v4
    invoke-virtual {v4}, Ljavax/net/ssl/KeyManagerFactory;->getProvider()Ljava/security/Provider;
    move-result-object v4
    :try_end
    .catch Ljava/security/GeneralSecurityException; {:try_start .. :try_end} :next
    # new KmfService(this, "KeyManagerFactory", alg, className, null, null)
    new-instance v5, Lio/trustfuse/runtime/KmfService;
    move-object v6, p0
    const-string v7, "KeyManagerFactory"
    const-string v9, "io.trustfuse.runtime.KmfSpi"
    const/4 v10, 0x0
    const/4 v11, 0x0
    invoke-direct/range {v5 .. v11}, Lio/trustfuse/runtime/KmfService;-><init>(Ljava/security/Provider;Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/util/List;Ljava/util/Map;)V
    iput-object p1, v5, Lio/trustfuse/runtime/KmfService;->km:Lio/trustfuse/runtime/Km;
    iput-object v4, v5, Lio/trustfuse/runtime/KmfService;->next:Ljava/security/Provider;
    invoke-virtual {p0, v5}, Ljava/security/Provider;->putService(Ljava/security/Provider$Service;)V
    :next
    add-int/lit8 v2, v2, 0x1
    goto :loop
    :done
    return-void
.end method
