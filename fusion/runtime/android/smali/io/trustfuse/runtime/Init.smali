# Init: the ContentProvider declared by the fuse pipeline. Providers are
# created before Application.onCreate. onCreate reads the policy, starts the
# checks on a background thread, unseals the vault and installs the client
# identity synchronously (bounded work: two asset reads, one signer digest,
# one AES-GCM decryption, one in-memory KeyStore), then returns.
.class public Lio/trustfuse/runtime/Init;
.super Landroid/content/ContentProvider;


.method public constructor <init>()V
    .locals 0
    invoke-direct {p0}, Landroid/content/ContentProvider;-><init>()V
    return-void
.end method

.method public onCreate()Z
    .locals 2
    :try_start
    invoke-virtual {p0}, Landroid/content/ContentProvider;->getContext()Landroid/content/Context;
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/Init;->start(Landroid/content/Context;)V
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :err
    :ret
    const/4 v0, 0x1
    return v0
    :err
    move-exception v0
    const-string v1, "trustfuse: runtime not started"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    goto :ret
.end method

.method static start(Landroid/content/Context;)V
    .locals 8
    const-string v0, "trustfuse/policy.bin"
    invoke-static {p0, v0}, Lio/trustfuse/runtime/U;->asset(Landroid/content/Context;Ljava/lang/String;)[B
    move-result-object v0
    if-nez v0, :have_policy
    const-string v1, "trustfuse: no policy asset; runtime inactive"
    invoke-static {v1}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    return-void
    :have_policy
    new-instance v1, Ljava/util/Properties;
    invoke-direct {v1}, Ljava/util/Properties;-><init>()V
    new-instance v2, Ljava/io/ByteArrayInputStream;
    invoke-direct {v2, v0}, Ljava/io/ByteArrayInputStream;-><init>([B)V
    invoke-virtual {v1, v2}, Ljava/util/Properties;->load(Ljava/io/InputStream;)V
    invoke-virtual {p0}, Landroid/content/Context;->getPackageName()Ljava/lang/String;
    move-result-object v2
    invoke-static {p0, v2}, Lio/trustfuse/runtime/Init;->signer(Landroid/content/Context;Ljava/lang/String;)[B
    move-result-object v3
    new-instance v4, Lio/trustfuse/runtime/Guard;
    invoke-direct {v4, p0, v1, v2, v3}, Lio/trustfuse/runtime/Guard;-><init>(Landroid/content/Context;Ljava/util/Properties;Ljava/lang/String;[B)V

    # checks run concurrently; connections wait for them (Guard.await)
    new-instance v7, Ljava/lang/Thread;
    const-string v5, "trustfuse-checks"
    invoke-direct {v7, v4, v5}, Ljava/lang/Thread;-><init>(Ljava/lang/Runnable;Ljava/lang/String;)V
    const/4 v5, 0x1
    invoke-virtual {v7, v5}, Ljava/lang/Thread;->setDaemon(Z)V
    invoke-virtual {v7}, Ljava/lang/Thread;->start()V

    invoke-static {p0, v3}, Lio/trustfuse/runtime/Init;->vault(Landroid/content/Context;[B)[B
    move-result-object v5
    const/4 v6, 0x0
    if-eqz v5, :no_vault
    :try_start
    invoke-static {v5, v3, v0}, Lio/trustfuse/runtime/Vault;->open([B[B[B)[Ljava/lang/Object;
    move-result-object v5
    # mtls.identity: embedded (also when absent), attested, attested-or-embedded
    const-string v7, "mtls.identity"
    invoke-static {v1, v7}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v7
    const-string v6, "attested"
    invoke-virtual {v6, v7}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v6
    if-nez v6, :attested
    const-string v6, "attested-or-embedded"
    invoke-virtual {v6, v7}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v6
    if-nez v6, :attested
    invoke-static {v4, v5}, Lio/trustfuse/runtime/Install;->keyManager(Lio/trustfuse/runtime/Guard;[Ljava/lang/Object;)Lio/trustfuse/runtime/Km;
    move-result-object v6
    goto :attest_key
    :attested
    # the key lives in AndroidKeyStore: Identity fills the key manager in
    const-string v2, "attested-or-embedded"
    invoke-virtual {v2, v7}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v2
    new-instance v7, Lio/trustfuse/runtime/Km;
    const/4 v6, 0x0
    invoke-direct {v7, v4, v6}, Lio/trustfuse/runtime/Km;-><init>(Lio/trustfuse/runtime/Guard;Ljavax/net/ssl/X509KeyManager;)V
    invoke-static {v4, v7, v5, v2}, Lio/trustfuse/runtime/Identity;->start(Lio/trustfuse/runtime/Guard;Lio/trustfuse/runtime/Km;[Ljava/lang/Object;Z)V
    move-object v6, v7
    :attest_key
    # the attestation client gets the vault's per-release attestation key
    const/4 v7, 0x2
    aget-object v7, v5, v7
    check-cast v7, [B
    invoke-static {v4, v7}, Lio/trustfuse/runtime/Attest;->setup(Lio/trustfuse/runtime/Guard;[B)V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :unseal_failed
    goto :install
    :unseal_failed
    move-exception v5
    const-string v7, "trustfuse: vault not unsealed (re-signed app or edited policy?); no client certificate"
    invoke-static {v7, v5}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    # Identity.state(): no client certificate in any mode
    const-string v7, "none: vault not unsealed"
    sput-object v7, Lio/trustfuse/runtime/Identity;->state:Ljava/lang/String;
    const/4 v6, 0x0
    goto :install
    :no_vault
    const-string v7, "trustfuse: no vault asset; no client certificate"
    invoke-static {v7}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    :install
    invoke-static {v4, v6}, Lio/trustfuse/runtime/Install;->install(Lio/trustfuse/runtime/Guard;Lio/trustfuse/runtime/Km;)V
    # the token header on plain URL connections to the protected hosts
    invoke-static {v4}, Lio/trustfuse/runtime/Urls;->install(Lio/trustfuse/runtime/Guard;)V
    # attested modes: the identity thread, now that TLS is set up
    invoke-static {}, Lio/trustfuse/runtime/Identity;->launch()V
    return-void
.end method

# signer(context, pkg) -> SHA-256 of the first signing certificate (32 zero bytes if unreadable)
.method static signer(Landroid/content/Context;Ljava/lang/String;)[B
    .locals 2
    :try_start
    invoke-virtual {p0}, Landroid/content/Context;->getPackageManager()Landroid/content/pm/PackageManager;
    move-result-object v0
    const/16 v1, 0x40
    invoke-virtual {v0, p1, v1}, Landroid/content/pm/PackageManager;->getPackageInfo(Ljava/lang/String;I)Landroid/content/pm/PackageInfo;
    move-result-object v0
    iget-object v0, v0, Landroid/content/pm/PackageInfo;->signatures:[Landroid/content/pm/Signature;
    const/4 v1, 0x0
    aget-object v0, v0, v1
    invoke-virtual {v0}, Landroid/content/pm/Signature;->toByteArray()[B
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->sha256([B)[B
    move-result-object v0
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :err
    return-object v0
    :err
    move-exception v0
    const-string v1, "trustfuse: cannot read the signer certificate"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    const/16 v0, 0x20
    new-array v0, v0, [B
    return-object v0
.end method

# vault(context, signerDigest) -> trustfuse/vault-<hex digest>.bin, else trustfuse/vault.bin, else null
.method static vault(Landroid/content/Context;[B)[B
    .locals 2
    new-instance v0, Ljava/lang/StringBuilder;
    const-string v1, "trustfuse/vault-"
    invoke-direct {v0, v1}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-static {p1}, Lio/trustfuse/runtime/U;->hex([B)Ljava/lang/String;
    move-result-object v1
    invoke-virtual {v0, v1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v1, ".bin"
    invoke-virtual {v0, v1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    invoke-static {p0, v0}, Lio/trustfuse/runtime/U;->asset(Landroid/content/Context;Ljava/lang/String;)[B
    move-result-object v0
    if-nez v0, :done
    const-string v1, "trustfuse/vault.bin"
    invoke-static {p0, v1}, Lio/trustfuse/runtime/U;->asset(Landroid/content/Context;Ljava/lang/String;)[B
    move-result-object v0
    :done
    return-object v0
.end method

.method public query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;
    .locals 1
    const/4 v0, 0x0
    return-object v0
.end method

.method public getType(Landroid/net/Uri;)Ljava/lang/String;
    .locals 1
    const/4 v0, 0x0
    return-object v0
.end method

.method public insert(Landroid/net/Uri;Landroid/content/ContentValues;)Landroid/net/Uri;
    .locals 1
    const/4 v0, 0x0
    return-object v0
.end method

.method public delete(Landroid/net/Uri;Ljava/lang/String;[Ljava/lang/String;)I
    .locals 1
    const/4 v0, 0x0
    return v0
.end method

.method public update(Landroid/net/Uri;Landroid/content/ContentValues;Ljava/lang/String;[Ljava/lang/String;)I
    .locals 1
    const/4 v0, 0x0
    return v0
.end method
