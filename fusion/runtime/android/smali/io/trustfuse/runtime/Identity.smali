# Identity: the hardware-bound client identity of the attested modes
# (policy mtls.identity attested | attested-or-embedded; docs/runtime.md).
# A background thread "trustfuse-identity" gets a nonce from serve, generates
# a non-exportable EC P-256 key in AndroidKeyStore with the nonce as
# attestation challenge (StrongBox when mtls.strongBox=prefer and the device
# has it), posts the attest body plus the key's attestation chain to
# <attest.endpoint>/v1/certificate, stores the issued chain on the key's
# keystore entry, and hands (key, chain) to Km. It renews when less than a
# third of the certificate's lifetime is left (also when a handshake notices
# it), keeps the current identity until the new one arrives, and serves it
# offline until it expires. Renewals alternate between two aliases, so the
# key in use is never replaced under a live connection. After a restart the
# stored entry is used while valid. attested-or-embedded falls back to the
# vault's embedded identity when the device cannot attest (API < 24, or key
# generation with attestation fails).
.class public final Lio/trustfuse/runtime/Identity;
.super Ljava/lang/Object;
.implements Ljava/lang/Runnable;

.field static volatile g:Lio/trustfuse/runtime/Guard;
.field static volatile km:Lio/trustfuse/runtime/Km;
# cas: the vault's issuer CA chain (attested); emb: the vault's embedded
# identity {key, chain, attestKey} (attested-or-embedded), else null
.field static volatile cas:[Ljava/security/cert/X509Certificate;
.field static volatile emb:[Ljava/lang/Object;
# cur, prev: {String alias, PrivateKey, X509Certificate[], Long notAfter, Long renewAt}
.field static volatile cur:[Ljava/lang/Object;
.field static volatile prev:[Ljava/lang/Object;
# next: no attempt before this time (after a failure); delay: the last
# back-off without a valid certificate
.field static volatile next:J
.field static volatile delay:J
.field static volatile level:Ljava/lang/String;
.field static volatile armed:Z
.field static volatile state:Ljava/lang/String;
.field static final first:Ljava/util/concurrent/CountDownLatch;
.field static final wake:Ljava/util/concurrent/Semaphore;


.method static constructor <clinit>()V
    .locals 2
    new-instance v0, Ljava/util/concurrent/CountDownLatch;
    const/4 v1, 0x1
    invoke-direct {v0, v1}, Ljava/util/concurrent/CountDownLatch;-><init>(I)V
    sput-object v0, Lio/trustfuse/runtime/Identity;->first:Ljava/util/concurrent/CountDownLatch;
    new-instance v0, Ljava/util/concurrent/Semaphore;
    const/4 v1, 0x0
    invoke-direct {v0, v1}, Ljava/util/concurrent/Semaphore;-><init>(I)V
    sput-object v0, Lio/trustfuse/runtime/Identity;->wake:Ljava/util/concurrent/Semaphore;
    const-string v0, "embedded"
    sput-object v0, Lio/trustfuse/runtime/Identity;->state:Ljava/lang/String;
    const-string v0, "TEE"
    sput-object v0, Lio/trustfuse/runtime/Identity;->level:Ljava/lang/String;
    return-void
.end method

.method private constructor <init>()V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

# state() -> "embedded", "embedded: <why the device cannot attest>",
# "pending", "attested (TEE|StrongBox|keystore)" (keystore: loaded after a
# restart) or "none: <why there is no certificate>"
.method public static state()Ljava/lang/String;
    .locals 1
    sget-object v0, Lio/trustfuse/runtime/Identity;->state:Ljava/lang/String;
    return-object v0
.end method

# start(guard, km, vault {key or null, chain, attestKey}, orEmbedded): Init, attested modes
.method static start(Lio/trustfuse/runtime/Guard;Lio/trustfuse/runtime/Km;[Ljava/lang/Object;Z)V
    .locals 4
    sput-object p0, Lio/trustfuse/runtime/Identity;->g:Lio/trustfuse/runtime/Guard;
    sput-object p1, Lio/trustfuse/runtime/Identity;->km:Lio/trustfuse/runtime/Km;
    const-string v0, "pending"
    sput-object v0, Lio/trustfuse/runtime/Identity;->state:Ljava/lang/String;
    if-eqz p3, :attested
    sput-object p2, Lio/trustfuse/runtime/Identity;->emb:[Ljava/lang/Object;
    goto :api
    :attested
    const/4 v0, 0x1
    aget-object v0, p2, v0
    check-cast v0, [Ljava/security/cert/X509Certificate;
    sput-object v0, Lio/trustfuse/runtime/Identity;->cas:[Ljava/security/cert/X509Certificate;
    :api
    sget v0, Landroid/os/Build$VERSION;->SDK_INT:I
    const/16 v1, 0x18
    if-ge v0, v1, :capable
    const-string v0, "API < 24 has no Key Attestation"
    invoke-static {v0}, Lio/trustfuse/runtime/Identity;->cannot(Ljava/lang/String;)V
    return-void
    :capable
    :try_start
    invoke-static {}, Lio/trustfuse/runtime/Identity;->stored()V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :nostore
    goto :thread
    :nostore
    move-exception v0
    const-string v1, "trustfuse: no stored identity"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    :thread
    const/4 v0, 0x1
    sput-boolean v0, Lio/trustfuse/runtime/Identity;->armed:Z
    return-void
.end method

# launch(): starts the identity thread when start() armed it (Init, after the
# TLS set-up, so its requests go through the runtime's SSLContext)
.method static launch()V
    .locals 4
    sget-boolean v0, Lio/trustfuse/runtime/Identity;->armed:Z
    if-nez v0, :go
    return-void
    :go
    new-instance v0, Ljava/lang/Thread;
    new-instance v1, Lio/trustfuse/runtime/Identity;
    invoke-direct {v1}, Lio/trustfuse/runtime/Identity;-><init>()V
    const-string v2, "trustfuse-identity"
    invoke-direct {v0, v1, v2}, Ljava/lang/Thread;-><init>(Ljava/lang/Runnable;Ljava/lang/String;)V
    const/4 v3, 0x1
    invoke-virtual {v0, v3}, Ljava/lang/Thread;->setDaemon(Z)V
    invoke-virtual {v0}, Ljava/lang/Thread;->start()V
    return-void
.end method

# cannot(why): the device cannot attest. attested-or-embedded: the vault's
# embedded identity from now on; attested: no client certificate.
.method static cannot(Ljava/lang/String;)V
    .locals 3
    sget-object v0, Lio/trustfuse/runtime/Identity;->emb:[Ljava/lang/Object;
    if-nez v0, :embedded
    const-string v0, "device cannot attest: "
    invoke-virtual {v0, p0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/Identity;->none(Ljava/lang/String;)V
    return-void
    :embedded
    sget-object v1, Lio/trustfuse/runtime/Identity;->g:Lio/trustfuse/runtime/Guard;
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Install;->keyManager(Lio/trustfuse/runtime/Guard;[Ljava/lang/Object;)Lio/trustfuse/runtime/Km;
    move-result-object v0
    iget-object v0, v0, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    sget-object v1, Lio/trustfuse/runtime/Identity;->km:Lio/trustfuse/runtime/Km;
    iput-object v0, v1, Lio/trustfuse/runtime/Km;->d:Ljavax/net/ssl/X509KeyManager;
    const-string v0, "embedded: device cannot attest: "
    invoke-virtual {v0, p0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    sput-object v0, Lio/trustfuse/runtime/Identity;->state:Ljava/lang/String;
    const-string v1, "trustfuse: identity: "
    invoke-virtual {v1, v0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-static {v1}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    sget-object v0, Lio/trustfuse/runtime/Identity;->first:Ljava/util/concurrent/CountDownLatch;
    invoke-virtual {v0}, Ljava/util/concurrent/CountDownLatch;->countDown()V
    return-void
.end method

# none(why): no client certificate (yet); handshakes waiting for the first one stop waiting
.method static none(Ljava/lang/String;)V
    .locals 2
    const-string v0, "none: "
    invoke-virtual {v0, p0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    sput-object v0, Lio/trustfuse/runtime/Identity;->state:Ljava/lang/String;
    const-string v0, "trustfuse: identity: no client certificate: "
    invoke-virtual {v0, p0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    sget-object v0, Lio/trustfuse/runtime/Identity;->first:Ljava/util/concurrent/CountDownLatch;
    invoke-virtual {v0}, Ljava/util/concurrent/CountDownLatch;->countDown()V
    return-void
.end method

# await(): a handshake or a token request waits (at most 20 s: challenge +
# certificate) for the first identity in the attested modes, unless it is
# the identity thread's own request
.method static await()V
    .locals 4
    sget-boolean v0, Lio/trustfuse/runtime/Identity;->armed:Z
    if-eqz v0, :done
    invoke-static {}, Lio/trustfuse/runtime/Attest;->fetching()Z
    move-result v0
    if-nez v0, :done
    sget-object v0, Lio/trustfuse/runtime/Identity;->first:Ljava/util/concurrent/CountDownLatch;
    const-wide/16 v1, 0x4e20
    sget-object v3, Ljava/util/concurrent/TimeUnit;->MILLISECONDS:Ljava/util/concurrent/TimeUnit;
    :try_start
    invoke-virtual {v0, v1, v2, v3}, Ljava/util/concurrent/CountDownLatch;->await(JLjava/util/concurrent/TimeUnit;)Z
    :try_end
    .catch Ljava/lang/InterruptedException; {:try_start .. :try_end} :done
    :done
    return-void
.end method

# choose(keyTypes, issuers) -> the current alias, or null: none yet, expired,
# another key type, or the server asks for other issuers. Wakes the identity
# thread when the renewal is due.
.method static choose([Ljava/lang/String;[Ljava/security/Principal;)Ljava/lang/String;
    .locals 9
    sget-object v0, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    if-eqz v0, :no
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v1
    const/4 v3, 0x4
    aget-object v3, v0, v3
    check-cast v3, Ljava/lang/Long;
    invoke-virtual {v3}, Ljava/lang/Long;->longValue()J
    move-result-wide v3
    cmp-long v5, v1, v3
    if-ltz v5, :fresh
    sget-wide v3, Lio/trustfuse/runtime/Identity;->next:J
    cmp-long v5, v1, v3
    if-ltz v5, :fresh
    sget-object v3, Lio/trustfuse/runtime/Identity;->wake:Ljava/util/concurrent/Semaphore;
    invoke-virtual {v3}, Ljava/util/concurrent/Semaphore;->availablePermits()I
    move-result v4
    if-nez v4, :fresh
    invoke-virtual {v3}, Ljava/util/concurrent/Semaphore;->release()V
    :fresh
    const/4 v3, 0x3
    aget-object v3, v0, v3
    check-cast v3, Ljava/lang/Long;
    invoke-virtual {v3}, Ljava/lang/Long;->longValue()J
    move-result-wide v3
    cmp-long v5, v1, v3
    if-gez v5, :no
    # key type: JSSE asks "EC", "EC_EC", "RSA", …; the key is EC
    const/4 v3, 0x1
    aget-object v3, v0, v3
    check-cast v3, Ljava/security/PrivateKey;
    invoke-interface {v3}, Ljava/security/Key;->getAlgorithm()Ljava/lang/String;
    move-result-object v3
    if-eqz p0, :no
    array-length v4, p0
    const/4 v5, 0x0
    :type
    if-ge v5, v4, :no
    aget-object v6, p0, v5
    add-int/lit8 v5, v5, 0x1
    if-eqz v6, :type
    invoke-virtual {v6, v3}, Ljava/lang/String;->startsWith(Ljava/lang/String;)Z
    move-result v6
    if-eqz v6, :type
    # issuers: none given, or one of them issued a certificate of the chain
    if-eqz p1, :yes
    array-length v4, p1
    if-eqz v4, :yes
    const/4 v3, 0x2
    aget-object v3, v0, v3
    check-cast v3, [Ljava/security/cert/X509Certificate;
    array-length v5, v3
    const/4 v6, 0x0
    :cert
    if-ge v6, v5, :no
    aget-object v7, v3, v6
    invoke-virtual {v7}, Ljava/security/cert/X509Certificate;->getIssuerX500Principal()Ljavax/security/auth/x500/X500Principal;
    move-result-object v7
    const/4 v8, 0x0
    :issuer
    if-ge v8, v4, :nextcert
    aget-object v1, p1, v8
    invoke-virtual {v7, v1}, Ljavax/security/auth/x500/X500Principal;->equals(Ljava/lang/Object;)Z
    move-result v1
    if-nez v1, :yes
    add-int/lit8 v8, v8, 0x1
    goto :issuer
    :nextcert
    add-int/lit8 v6, v6, 0x1
    goto :cert
    :yes
    const/4 v1, 0x0
    aget-object v1, v0, v1
    check-cast v1, Ljava/lang/String;
    return-object v1
    :no
    const/4 v0, 0x0
    return-object v0
.end method

# aliases(keyType, issuers) -> {alias} or null
.method static aliases(Ljava/lang/String;[Ljava/security/Principal;)[Ljava/lang/String;
    .locals 3
    const/4 v0, 0x1
    new-array v0, v0, [Ljava/lang/String;
    const/4 v1, 0x0
    aput-object p0, v0, v1
    invoke-static {v0, p1}, Lio/trustfuse/runtime/Identity;->choose([Ljava/lang/String;[Ljava/security/Principal;)Ljava/lang/String;
    move-result-object v2
    if-eqz v2, :none
    aput-object v2, v0, v1
    return-object v0
    :none
    const/4 v0, 0x0
    return-object v0
.end method

# part(alias, i) -> element i (1 key, 2 chain) of the current or previous
# identity named alias, or null
.method static part(Ljava/lang/String;I)Ljava/lang/Object;
    .locals 3
    sget-object v0, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    invoke-static {v0, p0}, Lio/trustfuse/runtime/Identity;->named([Ljava/lang/Object;Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :found
    sget-object v0, Lio/trustfuse/runtime/Identity;->prev:[Ljava/lang/Object;
    invoke-static {v0, p0}, Lio/trustfuse/runtime/Identity;->named([Ljava/lang/Object;Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :found
    const/4 v0, 0x0
    return-object v0
    :found
    aget-object v0, v0, p1
    return-object v0
.end method

.method static named([Ljava/lang/Object;Ljava/lang/String;)Z
    .locals 2
    const/4 v0, 0x0
    if-eqz p0, :done
    if-eqz p1, :done
    aget-object v1, p0, v0
    invoke-virtual {p1, v1}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v0
    :done
    return v0
.end method

# run(): the identity thread. Obtains a certificate when there is none or
# the renewal is due, then sleeps until the next renewal (or a handshake's
# wake-up). After a failure it waits a quarter of what is left of the
# current certificate (1 s to 60 s), or, with none valid, 1 s doubling up
# to 60 s.
.method public run()V
    .locals 10
    :loop
    sget-object v0, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v1
    sget-wide v3, Lio/trustfuse/runtime/Identity;->next:J
    cmp-long v5, v1, v3
    if-ltz v5, :sleep
    if-eqz v0, :obtain
    const/4 v5, 0x4
    invoke-static {v0, v5}, Lio/trustfuse/runtime/Identity;->at([Ljava/lang/Object;I)J
    move-result-wide v3
    cmp-long v5, v1, v3
    if-ltz v5, :sleep
    :obtain
    :try_start
    invoke-static {}, Lio/trustfuse/runtime/Identity;->obtain()V
    :try_end
    .catch Ljava/lang/UnsupportedOperationException; {:try_start .. :try_end} :cannot
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :failed
    const-wide/16 v3, 0x0
    sput-wide v3, Lio/trustfuse/runtime/Identity;->next:J
    sput-wide v3, Lio/trustfuse/runtime/Identity;->delay:J
    goto :sleep
    :cannot
    move-exception v3
    invoke-virtual {v3}, Ljava/lang/Throwable;->getMessage()Ljava/lang/String;
    move-result-object v3
    invoke-static {v3}, Lio/trustfuse/runtime/Identity;->cannot(Ljava/lang/String;)V
    sget-object v3, Lio/trustfuse/runtime/Identity;->emb:[Ljava/lang/Object;
    if-eqz v3, :retry
    return-void
    :failed
    move-exception v3
    invoke-static {v3}, Ljava/lang/String;->valueOf(Ljava/lang/Object;)Ljava/lang/String;
    move-result-object v3
    # no certificate, or the current one expired: none; else it stays in use
    sget-object v4, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    if-eqz v4, :expired
    const/4 v5, 0x3
    invoke-static {v4, v5}, Lio/trustfuse/runtime/Identity;->at([Ljava/lang/Object;I)J
    move-result-wide v4
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v6
    cmp-long v8, v6, v4
    if-ltz v8, :keep
    :expired
    invoke-static {v3}, Lio/trustfuse/runtime/Identity;->none(Ljava/lang/String;)V
    goto :retry
    :keep
    const-string v4, "trustfuse: identity: renewal failed, the current certificate stays in use until it expires: "
    invoke-virtual {v4, v3}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v4
    invoke-static {v4}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    :retry
    # with a valid certificate: a quarter of what is left of it, 1 s to 60 s;
    # without one (none yet, or expired): 1 s, doubling up to 60 s
    sget-object v0, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v1
    if-eqz v0, :nocert
    const/4 v5, 0x3
    invoke-static {v0, v5}, Lio/trustfuse/runtime/Identity;->at([Ljava/lang/Object;I)J
    move-result-wide v6
    sub-long/2addr v6, v1
    const-wide/16 v8, 0x0
    cmp-long v5, v6, v8
    if-lez v5, :nocert
    const-wide/16 v8, 0x4
    div-long/2addr v6, v8
    invoke-static {v6, v7}, Lio/trustfuse/runtime/Identity;->clamp(J)J
    move-result-wide v3
    goto :backoff
    :nocert
    sget-wide v3, Lio/trustfuse/runtime/Identity;->delay:J
    const-wide/16 v6, 0x2
    mul-long/2addr v3, v6
    invoke-static {v3, v4}, Lio/trustfuse/runtime/Identity;->clamp(J)J
    move-result-wide v3
    sput-wide v3, Lio/trustfuse/runtime/Identity;->delay:J
    :backoff
    add-long/2addr v3, v1
    sput-wide v3, Lio/trustfuse/runtime/Identity;->next:J
    :sleep
    # until the back-off ends, else until the renewal; at most 1 h
    sget-object v0, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v1
    const-wide/32 v3, 0x36ee80
    add-long/2addr v3, v1
    sget-wide v6, Lio/trustfuse/runtime/Identity;->next:J
    cmp-long v5, v6, v1
    if-lez v5, :earlier
    if-eqz v0, :wait
    const/4 v5, 0x4
    invoke-static {v0, v5}, Lio/trustfuse/runtime/Identity;->at([Ljava/lang/Object;I)J
    move-result-wide v6
    :earlier
    cmp-long v5, v6, v3
    if-gez v5, :wait
    move-wide v3, v6
    :wait
    sub-long/2addr v3, v1
    const-wide/16 v6, 0x1
    cmp-long v5, v3, v6
    if-gez v5, :positive
    move-wide v3, v6
    :positive
    sget-object v0, Lio/trustfuse/runtime/Identity;->wake:Ljava/util/concurrent/Semaphore;
    sget-object v7, Ljava/util/concurrent/TimeUnit;->MILLISECONDS:Ljava/util/concurrent/TimeUnit;
    :try_start2
    invoke-virtual {v0, v3, v4, v7}, Ljava/util/concurrent/Semaphore;->tryAcquire(JLjava/util/concurrent/TimeUnit;)Z
    :try_end2
    .catch Ljava/lang/InterruptedException; {:try_start2 .. :try_end2} :stop
    goto :loop
    :stop
    return-void
.end method

# clamp(ms) -> ms bounded to [1 s, 60 s]
.method static clamp(J)J
    .locals 4
    const-wide/16 v0, 0x3e8
    cmp-long v2, p0, v0
    if-ltz v2, :done
    const-wide/32 v0, 0xea60
    cmp-long v2, p0, v0
    if-gtz v2, :done
    move-wide v0, p0
    :done
    return-wide v0
.end method

# at(identity, i) -> the long at index i (3 notAfter, 4 renewAt)
.method static at([Ljava/lang/Object;I)J
    .locals 2
    aget-object v0, p0, p1
    check-cast v0, Ljava/lang/Long;
    invoke-virtual {v0}, Ljava/lang/Long;->longValue()J
    move-result-wide v0
    return-wide v0
.end method

# obtain(): a new key and certificate under the alias not in use
.method static obtain()V
    .locals 4
    const-string v0, "trustfuse.identity"
    sget-object v1, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Identity;->named([Ljava/lang/Object;Ljava/lang/String;)Z
    move-result v1
    if-eqz v1, :chosen
    const-string v0, "trustfuse.identity.2"
    :chosen
    sget-object v1, Lio/trustfuse/runtime/Identity;->g:Lio/trustfuse/runtime/Guard;
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Attest;->certificate(Lio/trustfuse/runtime/Guard;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-static {v0, v2}, Lio/trustfuse/runtime/Identity;->issued(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/Object;
    move-result-object v3
    # the response's token is bound to the issued certificate: cache it
    # before use() releases the requests waiting for it
    :try_start
    invoke-static {v2}, Lio/trustfuse/runtime/Attest;->remember(Ljava/lang/String;)V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :notoken
    goto :use
    :notoken
    move-exception v1
    const-string v2, "trustfuse: identity: no token in the certificate response"
    invoke-static {v2, v1}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    :use
    const-string v1, "issued"
    invoke-static {v3, v1}, Lio/trustfuse/runtime/Identity;->use([Ljava/lang/Object;Ljava/lang/String;)V
    return-void
.end method

# use(identity, how): make it current; the previous one stays reachable by
# alias for handshakes already under way. New connections get a new TLS
# context (Install.refresh), so none made under the previous certificate is
# reused.
.method static use([Ljava/lang/Object;Ljava/lang/String;)V
    .locals 4
    sget-object v0, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    sput-object v0, Lio/trustfuse/runtime/Identity;->prev:[Ljava/lang/Object;
    sput-object p0, Lio/trustfuse/runtime/Identity;->cur:[Ljava/lang/Object;
    sget-object v0, Lio/trustfuse/runtime/Identity;->g:Lio/trustfuse/runtime/Guard;
    invoke-static {v0}, Lio/trustfuse/runtime/Install;->refresh(Lio/trustfuse/runtime/Guard;)V
    const-string v0, "attested ("
    sget-object v1, Lio/trustfuse/runtime/Identity;->level:Ljava/lang/String;
    invoke-virtual {v0, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, ")"
    invoke-virtual {v0, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    sput-object v0, Lio/trustfuse/runtime/Identity;->state:Ljava/lang/String;
    new-instance v1, Ljava/lang/StringBuilder;
    const-string v2, "trustfuse: identity: "
    invoke-direct {v1, v2}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v1, v0}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v2, ", "
    invoke-virtual {v1, v2}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v1, p1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v2, " certificate "
    invoke-virtual {v1, v2}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const/4 v2, 0x2
    aget-object v2, p0, v2
    check-cast v2, [Ljava/security/cert/X509Certificate;
    const/4 v3, 0x0
    aget-object v2, v2, v3
    invoke-virtual {v2}, Ljava/security/cert/X509Certificate;->getSerialNumber()Ljava/math/BigInteger;
    move-result-object v3
    const/16 v0, 0x10
    invoke-virtual {v3, v0}, Ljava/math/BigInteger;->toString(I)Ljava/lang/String;
    move-result-object v3
    invoke-virtual {v1, v3}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v3, " until "
    invoke-virtual {v1, v3}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v2}, Ljava/security/cert/X509Certificate;->getNotAfter()Ljava/util/Date;
    move-result-object v3
    invoke-virtual {v1, v3}, Ljava/lang/StringBuilder;->append(Ljava/lang/Object;)Ljava/lang/StringBuilder;
    invoke-virtual {v1}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v1
    invoke-static {v1}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    sget-object v0, Lio/trustfuse/runtime/Identity;->first:Ljava/util/concurrent/CountDownLatch;
    invoke-virtual {v0}, Ljava/util/concurrent/CountDownLatch;->countDown()V
    return-void
.end method

# identity(alias, key, chain, renewAt) -> {alias, key, chain, notAfter, renewAt}
.method static identity(Ljava/lang/String;Ljava/security/PrivateKey;[Ljava/security/cert/X509Certificate;J)[Ljava/lang/Object;
    .locals 4
    const/4 v0, 0x5
    new-array v0, v0, [Ljava/lang/Object;
    const/4 v1, 0x0
    aput-object p0, v0, v1
    const/4 v1, 0x1
    aput-object p1, v0, v1
    const/4 v1, 0x2
    aput-object p2, v0, v1
    const/4 v1, 0x0
    aget-object v1, p2, v1
    invoke-virtual {v1}, Ljava/security/cert/X509Certificate;->getNotAfter()Ljava/util/Date;
    move-result-object v1
    invoke-virtual {v1}, Ljava/util/Date;->getTime()J
    move-result-wide v1
    invoke-static {v1, v2}, Ljava/lang/Long;->valueOf(J)Ljava/lang/Long;
    move-result-object v1
    const/4 v2, 0x3
    aput-object v1, v0, v2
    invoke-static {p3, p4}, Ljava/lang/Long;->valueOf(J)Ljava/lang/Long;
    move-result-object v1
    const/4 v2, 0x4
    aput-object v1, v0, v2
    return-object v0
.end method

# keystore() -> AndroidKeyStore, loaded
.method static keystore()Ljava/security/KeyStore;
    .locals 2
    const-string v0, "AndroidKeyStore"
    invoke-static {v0}, Ljava/security/KeyStore;->getInstance(Ljava/lang/String;)Ljava/security/KeyStore;
    move-result-object v0
    const/4 v1, 0x0
    invoke-virtual {v0, v1}, Ljava/security/KeyStore;->load(Ljava/security/KeyStore$LoadStoreParameter;)V
    return-object v0
.end method

# issued(alias, response) -> the identity: the issued certificate (for the
# key under alias; attested: signed by a CA of the vault) + chain, stored on
# the keystore entry. Renewal due after 2/3 of what is left now.
.method static issued(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/Object;
    .locals 10
    const-string v0, "X.509"
    invoke-static {v0}, Ljava/security/cert/CertificateFactory;->getInstance(Ljava/lang/String;)Ljava/security/cert/CertificateFactory;
    move-result-object v0
    const-string v1, "chain"
    invoke-static {p1, v1}, Lio/trustfuse/runtime/Identity;->items(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v1
    array-length v2, v1
    add-int/lit8 v3, v2, 0x1
    new-array v3, v3, [Ljava/security/cert/X509Certificate;
    const-string v4, "certificate"
    invoke-static {p1, v4}, Lio/trustfuse/runtime/Attest;->field(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v4
    const/4 v5, 0x0
    :decode
    invoke-static {v0, v4}, Lio/trustfuse/runtime/Identity;->der(Ljava/security/cert/CertificateFactory;Ljava/lang/String;)Ljava/security/cert/X509Certificate;
    move-result-object v4
    aput-object v4, v3, v5
    add-int/lit8 v5, v5, 0x1
    if-gt v5, v2, :all
    add-int/lit8 v6, v5, -0x1
    aget-object v4, v1, v6
    goto :decode
    :all
    const/4 v5, 0x0
    aget-object v4, v3, v5
    invoke-static {}, Lio/trustfuse/runtime/Identity;->keystore()Ljava/security/KeyStore;
    move-result-object v6
    invoke-virtual {v6, p0}, Ljava/security/KeyStore;->getCertificate(Ljava/lang/String;)Ljava/security/cert/Certificate;
    move-result-object v7
    invoke-virtual {v7}, Ljava/security/cert/Certificate;->getPublicKey()Ljava/security/PublicKey;
    move-result-object v7
    invoke-interface {v7}, Ljava/security/Key;->getEncoded()[B
    move-result-object v7
    invoke-virtual {v4}, Ljava/security/cert/X509Certificate;->getPublicKey()Ljava/security/PublicKey;
    move-result-object v8
    invoke-interface {v8}, Ljava/security/Key;->getEncoded()[B
    move-result-object v8
    invoke-static {v7, v8}, Ljava/util/Arrays;->equals([B[B)Z
    move-result v7
    if-nez v7, :ours
    new-instance v0, Ljava/security/cert/CertificateException;
    const-string v1, "trustfuse: the issued certificate is not for the device key"
    invoke-direct {v0, v1}, Ljava/security/cert/CertificateException;-><init>(Ljava/lang/String;)V
    throw v0
    :ours
    invoke-static {v4}, Lio/trustfuse/runtime/Identity;->issuedByVault(Ljava/security/cert/X509Certificate;)V
    const/4 v7, 0x0
    invoke-virtual {v6, p0, v7}, Ljava/security/KeyStore;->getKey(Ljava/lang/String;[C)Ljava/security/Key;
    move-result-object v8
    check-cast v8, Ljava/security/PrivateKey;
    invoke-virtual {v6, p0, v8, v7, v3}, Ljava/security/KeyStore;->setKeyEntry(Ljava/lang/String;Ljava/security/Key;[C[Ljava/security/cert/Certificate;)V
    # renewAt = now + 2/3 (notAfter - now)
    invoke-static {}, Ljava/lang/System;->currentTimeMillis()J
    move-result-wide v0
    invoke-virtual {v4}, Ljava/security/cert/X509Certificate;->getNotAfter()Ljava/util/Date;
    move-result-object v2
    invoke-virtual {v2}, Ljava/util/Date;->getTime()J
    move-result-wide v4
    sub-long/2addr v4, v0
    const-wide/16 v6, 0x2
    mul-long/2addr v4, v6
    const-wide/16 v6, 0x3
    div-long/2addr v4, v6
    add-long/2addr v4, v0
    invoke-static {p0, v8, v3, v4, v5}, Lio/trustfuse/runtime/Identity;->identity(Ljava/lang/String;Ljava/security/PrivateKey;[Ljava/security/cert/X509Certificate;J)[Ljava/lang/Object;
    move-result-object v0
    return-object v0
.end method

# der(factory, base64) -> the certificate
.method static der(Ljava/security/cert/CertificateFactory;Ljava/lang/String;)Ljava/security/cert/X509Certificate;
    .locals 2
    const/4 v0, 0x0
    invoke-static {p1, v0}, Landroid/util/Base64;->decode(Ljava/lang/String;I)[B
    move-result-object v0
    new-instance v1, Ljava/io/ByteArrayInputStream;
    invoke-direct {v1, v0}, Ljava/io/ByteArrayInputStream;-><init>([B)V
    invoke-virtual {p0, v1}, Ljava/security/cert/CertificateFactory;->generateCertificate(Ljava/io/InputStream;)Ljava/security/cert/Certificate;
    move-result-object v0
    check-cast v0, Ljava/security/cert/X509Certificate;
    return-object v0
.end method

# issuedByVault(cert): attested mode: cert must verify under one of the
# vault's CA certificates (serve's opaque refusals are signed by a throwaway
# CA); attested-or-embedded has no CA in the vault: accepted
.method static issuedByVault(Ljava/security/cert/X509Certificate;)V
    .locals 5
    sget-object v0, Lio/trustfuse/runtime/Identity;->cas:[Ljava/security/cert/X509Certificate;
    if-nez v0, :check
    return-void
    :check
    array-length v1, v0
    const/4 v2, 0x0
    :next
    if-ge v2, v1, :bad
    aget-object v3, v0, v2
    add-int/lit8 v2, v2, 0x1
    :try_start
    invoke-virtual {v3}, Ljava/security/cert/X509Certificate;->getPublicKey()Ljava/security/PublicKey;
    move-result-object v3
    invoke-virtual {p0, v3}, Ljava/security/cert/X509Certificate;->verify(Ljava/security/PublicKey;)V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :next
    return-void
    :bad
    new-instance v0, Ljava/security/cert/CertificateException;
    const-string v1, "trustfuse: the certificate was not issued by the issuer CA in the vault (serve refused?)"
    invoke-direct {v0, v1}, Ljava/security/cert/CertificateException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

# items(json, name) -> the strings of the flat array "name":["…",…]
.method static items(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    .locals 6
    const-string v0, "\""
    invoke-virtual {v0, p1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "\""
    invoke-virtual {v0, v1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {p0, v0}, Ljava/lang/String;->indexOf(Ljava/lang/String;)I
    move-result v1
    if-ltz v1, :bad
    const/16 v0, 0x5b
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v1
    if-ltz v1, :bad
    const/16 v0, 0x5d
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v2
    if-ltz v2, :bad
    new-instance v3, Ljava/util/ArrayList;
    invoke-direct {v3}, Ljava/util/ArrayList;-><init>()V
    const/16 v0, 0x22
    :item
    invoke-virtual {p0, v0, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v4
    if-ltz v4, :done
    if-gt v2, v4, :done
    add-int/lit8 v4, v4, 0x1
    invoke-virtual {p0, v0, v4}, Ljava/lang/String;->indexOf(II)I
    move-result v5
    if-ltz v5, :bad
    invoke-virtual {p0, v4, v5}, Ljava/lang/String;->substring(II)Ljava/lang/String;
    move-result-object v4
    invoke-virtual {v3, v4}, Ljava/util/ArrayList;->add(Ljava/lang/Object;)Z
    add-int/lit8 v1, v5, 0x1
    goto :item
    :done
    const/4 v0, 0x0
    new-array v0, v0, [Ljava/lang/String;
    invoke-virtual {v3, v0}, Ljava/util/ArrayList;->toArray([Ljava/lang/Object;)[Ljava/lang/Object;
    move-result-object v0
    check-cast v0, [Ljava/lang/String;
    return-object v0
    :bad
    const-string v0, "trustfuse: certificate response lacks "
    invoke-virtual {v0, p1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    new-instance v1, Ljava/io/IOException;
    invoke-direct {v1, v0}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v1
.end method

# stored(): after a restart, the stored entry (either alias) that holds a
# valid issued certificate, the one expiring last; renewal due when a third
# of its lifetime (notBefore to notAfter) is left
.method static stored()V
    .locals 12
    invoke-static {}, Lio/trustfuse/runtime/Identity;->keystore()Ljava/security/KeyStore;
    move-result-object v0
    const/4 v1, 0x0
    const-string v2, "trustfuse.identity"
    :alias
    :try_start
    invoke-virtual {v0, v2}, Ljava/security/KeyStore;->getCertificateChain(Ljava/lang/String;)[Ljava/security/cert/Certificate;
    move-result-object v3
    if-eqz v3, :next
    array-length v4, v3
    if-eqz v4, :next
    new-array v5, v4, [Ljava/security/cert/X509Certificate;
    const/4 v6, 0x0
    :copy
    if-ge v6, v4, :copied
    aget-object v7, v3, v6
    check-cast v7, Ljava/security/cert/X509Certificate;
    aput-object v7, v5, v6
    add-int/lit8 v6, v6, 0x1
    goto :copy
    :copied
    const/4 v6, 0x0
    aget-object v6, v5, v6
    invoke-virtual {v6}, Ljava/security/cert/X509Certificate;->getSubjectX500Principal()Ljavax/security/auth/x500/X500Principal;
    move-result-object v7
    invoke-virtual {v7}, Ljavax/security/auth/x500/X500Principal;->getName()Ljava/lang/String;
    move-result-object v7
    const-string v8, "CN=TrustFuse attested device"
    invoke-virtual {v8, v7}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v7
    if-eqz v7, :next
    invoke-virtual {v6}, Ljava/security/cert/X509Certificate;->checkValidity()V
    invoke-static {v6}, Lio/trustfuse/runtime/Identity;->issuedByVault(Ljava/security/cert/X509Certificate;)V
    const/4 v7, 0x0
    invoke-virtual {v0, v2, v7}, Ljava/security/KeyStore;->getKey(Ljava/lang/String;[C)Ljava/security/Key;
    move-result-object v7
    check-cast v7, Ljava/security/PrivateKey;
    if-eqz v7, :next
    invoke-virtual {v6}, Ljava/security/cert/X509Certificate;->getNotAfter()Ljava/util/Date;
    move-result-object v8
    invoke-virtual {v8}, Ljava/util/Date;->getTime()J
    move-result-wide v8
    invoke-virtual {v6}, Ljava/security/cert/X509Certificate;->getNotBefore()Ljava/util/Date;
    move-result-object v10
    invoke-virtual {v10}, Ljava/util/Date;->getTime()J
    move-result-wide v10
    sub-long v10, v8, v10
    const-wide/16 v3, 0x3
    div-long/2addr v10, v3
    sub-long v10, v8, v10
    invoke-static {v2, v7, v5, v10, v11}, Lio/trustfuse/runtime/Identity;->identity(Ljava/lang/String;Ljava/security/PrivateKey;[Ljava/security/cert/X509Certificate;J)[Ljava/lang/Object;
    move-result-object v5
    if-eqz v1, :best
    const/4 v3, 0x3
    aget-object v3, v1, v3
    check-cast v3, Ljava/lang/Long;
    invoke-virtual {v3}, Ljava/lang/Long;->longValue()J
    move-result-wide v3
    cmp-long v6, v8, v3
    if-lez v6, :best
    goto :next
    :best
    move-object v1, v5
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :skip
    goto :next
    :skip
    move-exception v3
    const-string v4, "trustfuse: identity: stored entry not usable"
    invoke-static {v4, v3}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    :next
    const-string v3, "trustfuse.identity.2"
    invoke-virtual {v3, v2}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v4
    if-nez v4, :done
    move-object v2, v3
    goto :alias
    :done
    if-eqz v1, :none
    # the security level of a stored key is not looked up again
    const-string v2, "keystore"
    sput-object v2, Lio/trustfuse/runtime/Identity;->level:Ljava/lang/String;
    const-string v2, "stored"
    invoke-static {v1, v2}, Lio/trustfuse/runtime/Identity;->use([Ljava/lang/Object;Ljava/lang/String;)V
    :none
    return-void
.end method

# generate(guard, alias, nonceRaw) -> the attestation chain of a new key
# under alias as JSON array items ("b64 DER",…, leaf first). Throws
# UnsupportedOperationException when the device cannot attest.
.method static generate(Lio/trustfuse/runtime/Guard;Ljava/lang/String;[B)Ljava/lang/String;
    .locals 8
    const/4 v2, 0x0
    :try_start
    sget v0, Landroid/os/Build$VERSION;->SDK_INT:I
    const/16 v1, 0x18
    if-ge v0, v1, :api_ok
    new-instance v0, Ljava/lang/IllegalStateException;
    const-string v1, "API < 24 has no Key Attestation"
    invoke-direct {v0, v1}, Ljava/lang/IllegalStateException;-><init>(Ljava/lang/String;)V
    throw v0
    :api_ok
    # StrongBox: policy prefer, API 28+, and the device declares it
    iget-object v3, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v4, "mtls.strongBox"
    invoke-static {v3, v4}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    const-string v4, "prefer"
    invoke-virtual {v4, v3}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v3
    if-eqz v3, :gen
    const/16 v1, 0x1c
    if-lt v0, v1, :gen
    iget-object v3, p0, Lio/trustfuse/runtime/Guard;->ctx:Landroid/content/Context;
    invoke-virtual {v3}, Landroid/content/Context;->getPackageManager()Landroid/content/pm/PackageManager;
    move-result-object v3
    const-string v4, "android.hardware.strongbox_keystore"
    invoke-virtual {v3, v4}, Landroid/content/pm/PackageManager;->hasSystemFeature(Ljava/lang/String;)Z
    move-result v2
    :gen
    invoke-static {p1, p2, v2}, Lio/trustfuse/runtime/Identity;->gen(Ljava/lang/String;[BZ)V
    :try_end
    .catch Ljava/security/ProviderException; {:try_start .. :try_end} :provider
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :cannot
    :generated
    :try_start2
    const-string v0, "TEE"
    if-eqz v2, :tee
    const-string v0, "StrongBox"
    :tee
    sput-object v0, Lio/trustfuse/runtime/Identity;->level:Ljava/lang/String;
    invoke-static {}, Lio/trustfuse/runtime/Identity;->keystore()Ljava/security/KeyStore;
    move-result-object v0
    invoke-virtual {v0, p1}, Ljava/security/KeyStore;->getCertificateChain(Ljava/lang/String;)[Ljava/security/cert/Certificate;
    move-result-object v0
    if-eqz v0, :nochain
    array-length v1, v0
    const/4 v3, 0x2
    if-lt v1, v3, :nochain
    new-instance v3, Ljava/lang/StringBuilder;
    invoke-direct {v3}, Ljava/lang/StringBuilder;-><init>()V
    const/4 v4, 0x0
    :item
    if-ge v4, v1, :joined
    if-eqz v4, :quote
    const/16 v5, 0x2c
    invoke-virtual {v3, v5}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    :quote
    const/16 v5, 0x22
    invoke-virtual {v3, v5}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    aget-object v6, v0, v4
    invoke-virtual {v6}, Ljava/security/cert/Certificate;->getEncoded()[B
    move-result-object v6
    const/4 v7, 0x2
    invoke-static {v6, v7}, Landroid/util/Base64;->encodeToString([BI)Ljava/lang/String;
    move-result-object v6
    invoke-virtual {v3, v6}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v3, v5}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    add-int/lit8 v4, v4, 0x1
    goto :item
    :joined
    invoke-virtual {v3}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    return-object v0
    :nochain
    new-instance v0, Ljava/lang/IllegalStateException;
    const-string v1, "no attestation chain for the generated key"
    invoke-direct {v0, v1}, Ljava/lang/IllegalStateException;-><init>(Ljava/lang/String;)V
    throw v0
    :try_end2
    .catch Ljava/lang/Throwable; {:try_start2 .. :try_end2} :cannot
    :provider
    # StrongBoxUnavailableException (API 28, a ProviderException): TEE instead
    move-exception v0
    if-eqz v2, :cannot_v0
    instance-of v1, v0, Landroid/security/keystore/StrongBoxUnavailableException;
    if-eqz v1, :cannot_v0
    const-string v1, "trustfuse: identity: StrongBox unavailable; key generated in the TEE"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    const/4 v2, 0x0
    :try_start3
    invoke-static {p1, p2, v2}, Lio/trustfuse/runtime/Identity;->gen(Ljava/lang/String;[BZ)V
    :try_end3
    .catch Ljava/lang/Throwable; {:try_start3 .. :try_end3} :cannot
    goto :generated
    :cannot
    move-exception v0
    :cannot_v0
    new-instance v1, Ljava/lang/UnsupportedOperationException;
    invoke-static {v0}, Ljava/lang/String;->valueOf(Ljava/lang/Object;)Ljava/lang/String;
    move-result-object v3
    invoke-direct {v1, v3, v0}, Ljava/lang/UnsupportedOperationException;-><init>(Ljava/lang/String;Ljava/lang/Throwable;)V
    throw v1
.end method

# gen(alias, challenge, strongBox): EC P-256, PURPOSE_SIGN, SHA-256 and NONE
.method static gen(Ljava/lang/String;[BZ)V
    .locals 5
    new-instance v0, Landroid/security/keystore/KeyGenParameterSpec$Builder;
    const/4 v1, 0x4
    invoke-direct {v0, p0, v1}, Landroid/security/keystore/KeyGenParameterSpec$Builder;-><init>(Ljava/lang/String;I)V
    const/4 v1, 0x2
    new-array v1, v1, [Ljava/lang/String;
    const-string v2, "SHA-256"
    const/4 v3, 0x0
    aput-object v2, v1, v3
    const-string v2, "NONE"
    const/4 v3, 0x1
    aput-object v2, v1, v3
    invoke-virtual {v0, v1}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->setDigests([Ljava/lang/String;)Landroid/security/keystore/KeyGenParameterSpec$Builder;
    new-instance v1, Ljava/security/spec/ECGenParameterSpec;
    const-string v2, "secp256r1"
    invoke-direct {v1, v2}, Ljava/security/spec/ECGenParameterSpec;-><init>(Ljava/lang/String;)V
    invoke-virtual {v0, v1}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->setAlgorithmParameterSpec(Ljava/security/spec/AlgorithmParameterSpec;)Landroid/security/keystore/KeyGenParameterSpec$Builder;
    invoke-virtual {v0, p1}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->setAttestationChallenge([B)Landroid/security/keystore/KeyGenParameterSpec$Builder;
    if-eqz p2, :built
    invoke-virtual {v0, p2}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->setIsStrongBoxBacked(Z)Landroid/security/keystore/KeyGenParameterSpec$Builder;
    :built
    invoke-virtual {v0}, Landroid/security/keystore/KeyGenParameterSpec$Builder;->build()Landroid/security/keystore/KeyGenParameterSpec;
    move-result-object v0
    const-string v1, "EC"
    const-string v2, "AndroidKeyStore"
    invoke-static {v1, v2}, Ljava/security/KeyPairGenerator;->getInstance(Ljava/lang/String;Ljava/lang/String;)Ljava/security/KeyPairGenerator;
    move-result-object v1
    invoke-virtual {v1, v0}, Ljava/security/KeyPairGenerator;->initialize(Ljava/security/spec/AlgorithmParameterSpec;)V
    invoke-virtual {v1}, Ljava/security/KeyPairGenerator;->generateKeyPair()Ljava/security/KeyPair;
    return-void
.end method
