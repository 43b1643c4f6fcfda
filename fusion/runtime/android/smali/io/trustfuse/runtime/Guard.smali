# Guard: the runtime state shared by the checks, the key manager and the
# trust manager. run() performs the checks (on the "trustfuse-checks"
# thread); connections wait for them in await() (at most 5 s).
.class final Lio/trustfuse/runtime/Guard;
.super Ljava/lang/Object;
.implements Ljava/lang/Runnable;


.field final ctx:Landroid/content/Context;
.field final pol:Ljava/util/Properties;
.field final pkg:Ljava/lang/String;
.field final signer:[B
.field final hosts:[Ljava/lang/String;
.field final done:Ljava/util/concurrent/CountDownLatch;
# withheld: the client certificate is no longer offered
.field volatile withheld:Z
# blocked: handshakes with protected hosts are refused
.field volatile blocked:Z
.field volatile ssl:Ljavax/net/ssl/SSLContext;


.method constructor <init>(Landroid/content/Context;Ljava/util/Properties;Ljava/lang/String;[B)V
    .locals 2
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/Guard;->ctx:Landroid/content/Context;
    iput-object p2, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    iput-object p3, p0, Lio/trustfuse/runtime/Guard;->pkg:Ljava/lang/String;
    iput-object p4, p0, Lio/trustfuse/runtime/Guard;->signer:[B
    const-string v0, "mtls.hosts"
    invoke-static {p2, v0}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    sget-object v1, Ljava/util/Locale;->ROOT:Ljava/util/Locale;
    invoke-virtual {v0, v1}, Ljava/lang/String;->toLowerCase(Ljava/util/Locale;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    iput-object v0, p0, Lio/trustfuse/runtime/Guard;->hosts:[Ljava/lang/String;
    new-instance v0, Ljava/util/concurrent/CountDownLatch;
    const/4 v1, 0x1
    invoke-direct {v0, v1}, Ljava/util/concurrent/CountDownLatch;-><init>(I)V
    iput-object v0, p0, Lio/trustfuse/runtime/Guard;->done:Ljava/util/concurrent/CountDownLatch;
    invoke-static {v0}, Lio/trustfuse/runtime/ThreatEvents;->attach(Ljava/util/concurrent/CountDownLatch;)V
    return-void
.end method

# await(): wait (at most 5 s) for the checks to finish
.method await()V
    .locals 4
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->done:Ljava/util/concurrent/CountDownLatch;
    const-wide/16 v1, 0x1388
    sget-object v3, Ljava/util/concurrent/TimeUnit;->MILLISECONDS:Ljava/util/concurrent/TimeUnit;
    :try_start
    invoke-virtual {v0, v1, v2, v3}, Ljava/util/concurrent/CountDownLatch;->await(JLjava/util/concurrent/TimeUnit;)Z
    :try_end
    .catch Ljava/lang/InterruptedException; {:try_start .. :try_end} :intr
    return-void
    :intr
    return-void
.end method

.method protectedHost(Ljava/lang/String;)Z
    .locals 2
    if-nez p1, :go
    const/4 v0, 0x0
    return v0
    :go
    sget-object v0, Ljava/util/Locale;->ROOT:Ljava/util/Locale;
    invoke-virtual {p1, v0}, Ljava/lang/String;->toLowerCase(Ljava/util/Locale;)Ljava/lang/String;
    move-result-object v0
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->hosts:[Ljava/lang/String;
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->contains([Ljava/lang/String;Ljava/lang/String;)Z
    move-result v0
    return v0
.end method

# key(threat, name) -> "threat.<threat>.<name>"
.method static key(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    .locals 2
    new-instance v0, Ljava/lang/StringBuilder;
    const-string v1, "threat."
    invoke-direct {v0, v1}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v0, p0}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v1, "."
    invoke-virtual {v0, v1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v0, p1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

# mode(threat) -> "detect", "defend", or null (off or unknown)
.method mode(Ljava/lang/String;)Ljava/lang/String;
    .locals 2
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "mode"
    invoke-static {p1, v1}, Lio/trustfuse/runtime/Guard;->key(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "detect"
    invoke-virtual {v1, v0}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v1
    if-nez v1, :ok
    const-string v1, "defend"
    invoke-virtual {v1, v0}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v1
    if-nez v1, :ok
    const/4 v0, 0x0
    :ok
    return-object v0
.end method

# run(): every check whose mode is not off, in a fixed order
.method public run()V
    .locals 2
    :try_start
    const-string v0, "tamper"
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    if-eqz v1, :debugger
    invoke-static {p0}, Lio/trustfuse/runtime/Checks;->signer(Lio/trustfuse/runtime/Guard;)[Ljava/lang/String;
    move-result-object v1
    if-nez v1, :tamper_fire
    invoke-static {p0}, Lio/trustfuse/runtime/Checks;->dex(Lio/trustfuse/runtime/Guard;)[Ljava/lang/String;
    move-result-object v1
    :tamper_fire
    invoke-virtual {p0, v0, v1}, Lio/trustfuse/runtime/Guard;->fire(Ljava/lang/String;[Ljava/lang/String;)V

    :debugger
    const-string v0, "debugger"
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    if-eqz v1, :root
    invoke-static {}, Lio/trustfuse/runtime/Checks;->debugger()[Ljava/lang/String;
    move-result-object v1
    invoke-virtual {p0, v0, v1}, Lio/trustfuse/runtime/Guard;->fire(Ljava/lang/String;[Ljava/lang/String;)V

    :root
    const-string v0, "root"
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    if-eqz v1, :emulator
    invoke-static {}, Lio/trustfuse/runtime/Checks;->root()[Ljava/lang/String;
    move-result-object v1
    invoke-virtual {p0, v0, v1}, Lio/trustfuse/runtime/Guard;->fire(Ljava/lang/String;[Ljava/lang/String;)V

    :emulator
    const-string v0, "emulator"
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    if-eqz v1, :hooking
    invoke-static {}, Lio/trustfuse/runtime/Checks;->emulator()[Ljava/lang/String;
    move-result-object v1
    invoke-virtual {p0, v0, v1}, Lio/trustfuse/runtime/Guard;->fire(Ljava/lang/String;[Ljava/lang/String;)V

    :hooking
    const-string v0, "hooking"
    invoke-virtual {p0, v0}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    if-eqz v1, :end
    invoke-static {}, Lio/trustfuse/runtime/Checks;->hooking()[Ljava/lang/String;
    move-result-object v1
    invoke-virtual {p0, v0, v1}, Lio/trustfuse/runtime/Guard;->fire(Ljava/lang/String;[Ljava/lang/String;)V
    :end
    :try_end
    .catchall {:try_start .. :try_end} :fin
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->done:Ljava/util/concurrent/CountDownLatch;
    invoke-virtual {v0}, Ljava/util/concurrent/CountDownLatch;->countDown()V
    return-void
    :fin
    move-exception v1
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->done:Ljava/util/concurrent/CountDownLatch;
    invoke-virtual {v0}, Ljava/util/concurrent/CountDownLatch;->countDown()V
    const-string v0, "trustfuse: checks failed"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    return-void
.end method

# fire(threat, {reasonCode, reasonData} or null): score, Threat-Event, then
# defend (enforce now) or detect (+ fail-safe timer)
.method fire(Ljava/lang/String;[Ljava/lang/String;)V
    .locals 9
    if-nez p2, :go
    return-void
    :go
    invoke-virtual {p0, p1}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    if-nez v0, :active
    return-void
    :active
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v2, "score"
    invoke-static {p1, v2}, Lio/trustfuse/runtime/Guard;->key(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v2
    invoke-static {v1, v2}, Lio/trustfuse/runtime/U;->propLong(Ljava/util/Properties;Ljava/lang/String;)J
    move-result-wide v2
    long-to-int v2, v2
    invoke-static {v2}, Lio/trustfuse/runtime/ThreatEvents;->addScore(I)I
    move-result v3

    new-instance v4, Ljava/lang/StringBuilder;
    const-string v5, "trustfuse: threat "
    invoke-direct {v4, v5}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V
    invoke-virtual {v4, p1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v5, " ("
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v4, v0}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v5, "): "
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const/4 v5, 0x0
    aget-object v5, p2, v5
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const-string v5, " "
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    const/4 v5, 0x1
    aget-object v5, p2, v5
    invoke-virtual {v4, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;
    invoke-virtual {v4}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v4
    invoke-static {v4}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V

    const-string v4, "events"
    invoke-static {v1, v4}, Lio/trustfuse/runtime/U;->propTrue(Ljava/util/Properties;Ljava/lang/String;)Z
    move-result v4
    if-eqz v4, :noevents
    invoke-virtual {p0, p1, p2, v2, v3}, Lio/trustfuse/runtime/Guard;->event(Ljava/lang/String;[Ljava/lang/String;II)Ljava/util/Map;
    move-result-object v4
    invoke-static {v4}, Lio/trustfuse/runtime/ThreatEvents;->deliver(Ljava/util/Map;)V
    invoke-virtual {p0, v4}, Lio/trustfuse/runtime/Guard;->broadcast(Ljava/util/Map;)V
    :noevents
    const-string v4, "defend"
    invoke-virtual {v4, v0}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v4
    if-eqz v4, :detect
    invoke-virtual {p0, p1}, Lio/trustfuse/runtime/Guard;->enforce(Ljava/lang/String;)V
    return-void
    :detect
    const-string v4, "failSafe.enforce"
    invoke-static {v1, v4}, Lio/trustfuse/runtime/U;->propTrue(Ljava/util/Properties;Ljava/lang/String;)Z
    move-result v4
    if-eqz v4, :done
    const-string v4, "failSafe.afterMs"
    invoke-static {v1, v4}, Lio/trustfuse/runtime/U;->propLong(Ljava/util/Properties;Ljava/lang/String;)J
    move-result-wide v4
    new-instance v6, Lio/trustfuse/runtime/FailSafe;
    invoke-direct {v6, p0, p1, v4, v5}, Lio/trustfuse/runtime/FailSafe;-><init>(Lio/trustfuse/runtime/Guard;Ljava/lang/String;J)V
    new-instance v7, Ljava/lang/Thread;
    const-string v8, "trustfuse-failsafe"
    invoke-direct {v7, v6, v8}, Ljava/lang/Thread;-><init>(Ljava/lang/Runnable;Ljava/lang/String;)V
    const/4 v8, 0x1
    invoke-virtual {v7, v8}, Ljava/lang/Thread;->setDaemon(Z)V
    invoke-virtual {v7}, Ljava/lang/Thread;->start()V
    :done
    return-void
.end method

# event(threat, reason, score, total) -> the Threat-Event keys and values
.method event(Ljava/lang/String;[Ljava/lang/String;II)Ljava/util/Map;
    .locals 6
    new-instance v0, Ljava/util/LinkedHashMap;
    invoke-direct {v0}, Ljava/util/LinkedHashMap;-><init>()V
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;

    const-string v2, "threatCode"
    invoke-static {v0, v2, p1}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "threatEventName"
    invoke-static {p1}, Lio/trustfuse/runtime/Guard;->eventName(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "message"
    invoke-static {p1, v2}, Lio/trustfuse/runtime/Guard;->key(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    invoke-static {v1, v3}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "reasonCode"
    const/4 v3, 0x0
    aget-object v3, p2, v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "reasonData"
    const/4 v3, 0x1
    aget-object v3, p2, v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V

    invoke-virtual {p0, p1}, Lio/trustfuse/runtime/Guard;->mode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v4
    const-string v2, "mode"
    invoke-static {v0, v2, v4}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "detect"
    invoke-virtual {v2, v4}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v3
    if-eqz v3, :fs
    const-string v2, "failSafe.enforce"
    invoke-static {v1, v2}, Lio/trustfuse/runtime/U;->propTrue(Ljava/util/Properties;Ljava/lang/String;)Z
    move-result v3
    :fs
    invoke-static {v3}, Ljava/lang/String;->valueOf(Z)Ljava/lang/String;
    move-result-object v3
    const-string v2, "failSafeEnforce"
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V

    const-string v2, "deviceID"
    invoke-virtual {p0}, Lio/trustfuse/runtime/Guard;->deviceId()Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "osVersion"
    sget-object v3, Landroid/os/Build$VERSION;->RELEASE:Ljava/lang/String;
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "deviceModel"
    sget-object v3, Landroid/os/Build;->MODEL:Ljava/lang/String;
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "deviceManufacturer"
    sget-object v3, Landroid/os/Build;->MANUFACTURER:Ljava/lang/String;
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "deviceBrand"
    sget-object v3, Landroid/os/Build;->BRAND:Ljava/lang/String;
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "sdkVersion"
    sget v3, Landroid/os/Build$VERSION;->SDK_INT:I
    invoke-static {v3}, Ljava/lang/String;->valueOf(I)Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "fusedAppToken"
    invoke-static {v1, v2}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "buildDate"
    invoke-static {v1, v2}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "timeZone"
    invoke-static {}, Ljava/util/TimeZone;->getDefault()Ljava/util/TimeZone;
    move-result-object v3
    invoke-virtual {v3}, Ljava/util/TimeZone;->getID()Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "externalID"
    invoke-static {}, Lio/trustfuse/runtime/ThreatEvents;->externalID()Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "threatScore"
    invoke-static {p3}, Ljava/lang/String;->valueOf(I)Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "totalScore"
    invoke-static {p4}, Ljava/lang/String;->valueOf(I)Ljava/lang/String;
    move-result-object v3
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    const-string v2, "package"
    iget-object v3, p0, Lio/trustfuse/runtime/Guard;->pkg:Ljava/lang/String;
    invoke-static {v0, v2, v3}, Lio/trustfuse/runtime/Guard;->put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    return-object v0
.end method

.method static put(Ljava/util/Map;Ljava/lang/String;Ljava/lang/String;)V
    .locals 0
    if-nez p2, :put
    const-string p2, ""
    :put
    invoke-interface {p0, p1, p2}, Ljava/util/Map;->put(Ljava/lang/Object;Ljava/lang/Object;)Ljava/lang/Object;
    return-void
.end method

.method static eventName(Ljava/lang/String;)Ljava/lang/String;
    .locals 4
    const-string v0, "tamper,debugger,root,emulator,hooking,mitm"
    invoke-static {v0}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    const-string v1, "AppTampered,DebuggerAttached,RootedDevice,EmulatorDetected,HookingFrameworkDetected,MitMDetected"
    invoke-static {v1}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v1
    array-length v2, v0
    :loop
    if-lez v2, :none
    add-int/lit8 v2, v2, -0x1
    aget-object v3, v0, v2
    invoke-virtual {v3, p0}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v3
    if-eqz v3, :loop
    aget-object v3, v1, v2
    return-object v3
    :none
    return-object p0
.end method

# deviceId() -> hex SHA-256 of ANDROID_ID, or of a random per-process id when unavailable
.method deviceId()Ljava/lang/String;
    .locals 2
    const/4 v0, 0x0
    :try_start
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->ctx:Landroid/content/Context;
    invoke-virtual {v1}, Landroid/content/Context;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v1
    const-string v0, "android_id"
    invoke-static {v1, v0}, Landroid/provider/Settings$Secure;->getString(Landroid/content/ContentResolver;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :err
    goto :check
    :err
    const/4 v0, 0x0
    :check
    if-eqz v0, :random
    invoke-virtual {v0}, Ljava/lang/String;->length()I
    move-result v1
    if-nez v1, :hash
    :random
    invoke-static {}, Lio/trustfuse/runtime/ThreatEvents;->installId()Ljava/lang/String;
    move-result-object v0
    :hash
    const-string v1, "UTF-8"
    invoke-virtual {v0, v1}, Ljava/lang/String;->getBytes(Ljava/lang/String;)[B
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->sha256([B)[B
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->hex([B)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

# broadcast(event): Intent("<pkg>.trustfuse.THREAT") limited to this package
.method broadcast(Ljava/util/Map;)V
    .locals 5
    :try_start
    new-instance v0, Landroid/content/Intent;
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->pkg:Ljava/lang/String;
    const-string v2, ".trustfuse.THREAT"
    invoke-virtual {v1, v2}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-direct {v0, v1}, Landroid/content/Intent;-><init>(Ljava/lang/String;)V
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->pkg:Ljava/lang/String;
    invoke-virtual {v0, v1}, Landroid/content/Intent;->setPackage(Ljava/lang/String;)Landroid/content/Intent;
    invoke-interface {p1}, Ljava/util/Map;->entrySet()Ljava/util/Set;
    move-result-object v1
    invoke-interface {v1}, Ljava/util/Set;->iterator()Ljava/util/Iterator;
    move-result-object v1
    :loop
    invoke-interface {v1}, Ljava/util/Iterator;->hasNext()Z
    move-result v2
    if-eqz v2, :send
    invoke-interface {v1}, Ljava/util/Iterator;->next()Ljava/lang/Object;
    move-result-object v2
    check-cast v2, Ljava/util/Map$Entry;
    invoke-interface {v2}, Ljava/util/Map$Entry;->getKey()Ljava/lang/Object;
    move-result-object v3
    check-cast v3, Ljava/lang/String;
    invoke-interface {v2}, Ljava/util/Map$Entry;->getValue()Ljava/lang/Object;
    move-result-object v4
    check-cast v4, Ljava/lang/String;
    invoke-virtual {v0, v3, v4}, Landroid/content/Intent;->putExtra(Ljava/lang/String;Ljava/lang/String;)Landroid/content/Intent;
    goto :loop
    :send
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->ctx:Landroid/content/Context;
    invoke-virtual {v1, v0}, Landroid/content/Context;->sendBroadcast(Landroid/content/Intent;)V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :err
    return-void
    :err
    move-exception v0
    const-string v1, "trustfuse: broadcast failed"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    return-void
.end method

# enforce(threat): withhold the certificate, refuse protected hosts, drop
# cached TLS sessions, tell the user, and exit if the policy says so
.method enforce(Ljava/lang/String;)V
    .locals 4
    const/4 v0, 0x1
    iput-boolean v0, p0, Lio/trustfuse/runtime/Guard;->withheld:Z
    iput-boolean v0, p0, Lio/trustfuse/runtime/Guard;->blocked:Z
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->ssl:Ljavax/net/ssl/SSLContext;
    if-eqz v0, :nossl
    invoke-static {v0}, Lio/trustfuse/runtime/Guard;->dropSessions(Ljavax/net/ssl/SSLContext;)V
    :nossl
    const-string v0, "trustfuse: enforcing defense against "
    invoke-virtual {v0, p1}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "message"
    invoke-static {p1, v1}, Lio/trustfuse/runtime/Guard;->key(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-virtual {v1}, Ljava/lang/String;->length()I
    move-result v2
    if-eqz v2, :nomsg
    invoke-virtual {p0, v1}, Lio/trustfuse/runtime/Guard;->notice(Ljava/lang/String;)V
    :nomsg
    const-string v1, "exitOnDefend"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->propTrue(Ljava/util/Properties;Ljava/lang/String;)Z
    move-result v1
    if-eqz v1, :done
    if-eqz v2, :kill
    # let the user read the message first
    const-wide/16 v0, 0x7d0
    :try_start
    invoke-static {v0, v1}, Ljava/lang/Thread;->sleep(J)V
    :try_end
    .catch Ljava/lang/InterruptedException; {:try_start .. :try_end} :kill
    :kill
    const-string v0, "trustfuse: exiting (exitOnDefend)"
    invoke-static {v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    invoke-static {}, Landroid/os/Process;->myPid()I
    move-result v0
    invoke-static {v0}, Landroid/os/Process;->killProcess(I)V
    const/16 v0, 0x4e
    invoke-static {v0}, Ljava/lang/System;->exit(I)V
    :done
    return-void
.end method

.method static dropSessions(Ljavax/net/ssl/SSLContext;)V
    .locals 3
    :try_start
    invoke-virtual {p0}, Ljavax/net/ssl/SSLContext;->getClientSessionContext()Ljavax/net/ssl/SSLSessionContext;
    move-result-object v0
    invoke-interface {v0}, Ljavax/net/ssl/SSLSessionContext;->getIds()Ljava/util/Enumeration;
    move-result-object v1
    :loop
    invoke-interface {v1}, Ljava/util/Enumeration;->hasMoreElements()Z
    move-result v2
    if-eqz v2, :done
    invoke-interface {v1}, Ljava/util/Enumeration;->nextElement()Ljava/lang/Object;
    move-result-object v2
    check-cast v2, [B
    invoke-interface {v0, v2}, Ljavax/net/ssl/SSLSessionContext;->getSession([B)Ljavax/net/ssl/SSLSession;
    move-result-object v2
    if-eqz v2, :loop
    invoke-interface {v2}, Ljavax/net/ssl/SSLSession;->invalidate()V
    goto :loop
    :done
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :err
    return-void
    :err
    return-void
.end method

# notice(message): a Toast on the main thread (the user-facing side of defend)
.method notice(Ljava/lang/String;)V
    .locals 3
    :try_start
    new-instance v0, Landroid/os/Handler;
    invoke-static {}, Landroid/os/Looper;->getMainLooper()Landroid/os/Looper;
    move-result-object v1
    invoke-direct {v0, v1}, Landroid/os/Handler;-><init>(Landroid/os/Looper;)V
    new-instance v1, Lio/trustfuse/runtime/Notice;
    iget-object v2, p0, Lio/trustfuse/runtime/Guard;->ctx:Landroid/content/Context;
    invoke-direct {v1, v2, p1}, Lio/trustfuse/runtime/Notice;-><init>(Landroid/content/Context;Ljava/lang/String;)V
    invoke-virtual {v0, v1}, Landroid/os/Handler;->post(Ljava/lang/Runnable;)Z
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :err
    return-void
    :err
    return-void
.end method
