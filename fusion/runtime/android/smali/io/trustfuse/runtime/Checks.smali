# Checks: each method returns {reasonCode, reasonData} when its threat is
# present, or null. Every check is cheap and bounded (file existence tests,
# one read of /proc/self/status and /proc/self/maps, one pass over the dex
# entries of the installed APK).
.class final Lio/trustfuse/runtime/Checks;
.super Ljava/lang/Object;


.method private constructor <init>()V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

.method static r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    .locals 2
    const/4 v0, 0x2
    new-array v0, v0, [Ljava/lang/String;
    const/4 v1, 0x0
    aput-object p0, v0, v1
    const/4 v1, 0x1
    aput-object p1, v0, v1
    return-object v0
.end method

# tamper: the installed signer certificate digest must be one of policy "signers"
.method static signer(Lio/trustfuse/runtime/Guard;)[Ljava/lang/String;
    .locals 3
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->signer:[B
    invoke-static {v0}, Lio/trustfuse/runtime/U;->hex([B)Ljava/lang/String;
    move-result-object v0
    iget-object v1, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v2, "signers"
    invoke-static {v1, v2}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-static {v1}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v1
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->contains([Ljava/lang/String;Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :ok
    const-string v1, "SIGNER_MISMATCH"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :ok
    const/4 v0, 0x0
    return-object v0
.end method

# tamper: every dex listed in policy "dex" must hash to its digest, and the
# APK may hold at most one more top-level classes*.dex (the runtime's own)
.method static dex(Lio/trustfuse/runtime/Guard;)[Ljava/lang/String;
    .locals 10
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "dex"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    array-length v1, v0
    if-nez v1, :go
    const/4 v0, 0x0
    return-object v0
    :go
    const/4 v2, 0x0
    :try_start
    iget-object v3, p0, Lio/trustfuse/runtime/Guard;->ctx:Landroid/content/Context;
    invoke-virtual {v3}, Landroid/content/Context;->getApplicationInfo()Landroid/content/pm/ApplicationInfo;
    move-result-object v3
    iget-object v3, v3, Landroid/content/pm/ApplicationInfo;->sourceDir:Ljava/lang/String;
    new-instance v4, Ljava/util/zip/ZipFile;
    invoke-direct {v4, v3}, Ljava/util/zip/ZipFile;-><init>(Ljava/lang/String;)V
    move-object v2, v4
    const/4 v3, 0x0
    :loop
    if-ge v3, v1, :extras
    aget-object v4, v0, v3
    const/16 v5, 0x3a
    invoke-virtual {v4, v5}, Ljava/lang/String;->indexOf(I)I
    move-result v5
    if-ltz v5, :next
    const/4 v6, 0x0
    invoke-virtual {v4, v6, v5}, Ljava/lang/String;->substring(II)Ljava/lang/String;
    move-result-object v6
    add-int/lit8 v5, v5, 0x1
    invoke-virtual {v4, v5}, Ljava/lang/String;->substring(I)Ljava/lang/String;
    move-result-object v7
    invoke-virtual {v2, v6}, Ljava/util/zip/ZipFile;->getEntry(Ljava/lang/String;)Ljava/util/zip/ZipEntry;
    move-result-object v8
    if-nez v8, :have
    const-string v9, " missing"
    invoke-virtual {v6, v9}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v9
    const-string v8, "DEX_MODIFIED"
    invoke-static {v8, v9}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v9
    goto :ret
    :have
    invoke-virtual {v2, v8}, Ljava/util/zip/ZipFile;->getInputStream(Ljava/util/zip/ZipEntry;)Ljava/io/InputStream;
    move-result-object v8
    invoke-static {v8}, Lio/trustfuse/runtime/U;->sha256(Ljava/io/InputStream;)[B
    move-result-object v8
    invoke-static {v8}, Lio/trustfuse/runtime/U;->hex([B)Ljava/lang/String;
    move-result-object v8
    invoke-virtual {v8, v7}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v8
    if-nez v8, :next
    const-string v8, "DEX_MODIFIED"
    invoke-static {v8, v6}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v9
    goto :ret
    :next
    add-int/lit8 v3, v3, 0x1
    goto :loop
    :extras
    invoke-virtual {v2}, Ljava/util/zip/ZipFile;->entries()Ljava/util/Enumeration;
    move-result-object v4
    const/4 v5, 0x0
    :eloop
    invoke-interface {v4}, Ljava/util/Enumeration;->hasMoreElements()Z
    move-result v6
    if-eqz v6, :ecount
    invoke-interface {v4}, Ljava/util/Enumeration;->nextElement()Ljava/lang/Object;
    move-result-object v6
    check-cast v6, Ljava/util/zip/ZipEntry;
    invoke-virtual {v6}, Ljava/util/zip/ZipEntry;->getName()Ljava/lang/String;
    move-result-object v6
    invoke-static {v6}, Lio/trustfuse/runtime/Checks;->isDex(Ljava/lang/String;)Z
    move-result v6
    if-eqz v6, :eloop
    add-int/lit8 v5, v5, 0x1
    goto :eloop
    :ecount
    add-int/lit8 v6, v1, 0x1
    const/4 v9, 0x0
    if-le v5, v6, :ret
    const-string v8, "DEX_MODIFIED"
    invoke-static {v5}, Ljava/lang/String;->valueOf(I)Ljava/lang/String;
    move-result-object v6
    const-string v7, "unexpected dex count "
    invoke-virtual {v7, v6}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v6
    invoke-static {v8, v6}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v9
    :ret
    invoke-virtual {v2}, Ljava/util/zip/ZipFile;->close()V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :err
    return-object v9
    :err
    move-exception v0
    if-eqz v2, :noclose
    :try_start2
    invoke-virtual {v2}, Ljava/util/zip/ZipFile;->close()V
    :try_end2
    .catch Ljava/lang/Exception; {:try_start2 .. :try_end2} :noclose
    :noclose
    const-string v1, "DEX_UNREADABLE"
    invoke-virtual {v0}, Ljava/lang/Throwable;->toString()Ljava/lang/String;
    move-result-object v0
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

.method static isDex(Ljava/lang/String;)Z
    .locals 1
    const-string v0, "classes"
    invoke-virtual {p0, v0}, Ljava/lang/String;->startsWith(Ljava/lang/String;)Z
    move-result v0
    if-eqz v0, :no
    const-string v0, ".dex"
    invoke-virtual {p0, v0}, Ljava/lang/String;->endsWith(Ljava/lang/String;)Z
    move-result v0
    if-eqz v0, :no
    const/16 v0, 0x2f
    invoke-virtual {p0, v0}, Ljava/lang/String;->indexOf(I)I
    move-result v0
    if-gez v0, :no
    const/4 v0, 0x1
    return v0
    :no
    const/4 v0, 0x0
    return v0
.end method

# debugger: JDWP debugger connected, or a ptrace tracer (TracerPid != 0)
.method static debugger()[Ljava/lang/String;
    .locals 3
    invoke-static {}, Landroid/os/Debug;->isDebuggerConnected()Z
    move-result v0
    if-eqz v0, :tracer
    const-string v0, "DEBUGGER_ATTACHED"
    const-string v1, "jdwp"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :tracer
    const-string v0, "/proc/self/status"
    invoke-static {v0}, Lio/trustfuse/runtime/U;->readText(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    if-eqz v0, :none
    const-string v1, "TracerPid:"
    invoke-virtual {v0, v1}, Ljava/lang/String;->indexOf(Ljava/lang/String;)I
    move-result v1
    if-ltz v1, :none
    add-int/lit8 v1, v1, 0xa
    const/16 v2, 0xa
    invoke-virtual {v0, v2, v1}, Ljava/lang/String;->indexOf(II)I
    move-result v2
    if-gez v2, :cut
    invoke-virtual {v0}, Ljava/lang/String;->length()I
    move-result v2
    :cut
    invoke-virtual {v0, v1, v2}, Ljava/lang/String;->substring(II)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {v0}, Ljava/lang/String;->trim()Ljava/lang/String;
    move-result-object v0
    const-string v1, "0"
    invoke-virtual {v1, v0}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v1
    if-nez v1, :none
    const-string v1, "TRACER_PID"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :none
    const/4 v0, 0x0
    return-object v0
.end method

# root: su binaries, Magisk / KernelSU paths, a test-keys build
.method static root()[Ljava/lang/String;
    .locals 5
    const-string v0, "/system/bin/su,/system/xbin/su,/sbin/su,/su/bin/su,/system/bin/failsafe/su,/system/sd/xbin/su,/data/local/su,/data/local/bin/su,/data/local/xbin/su,/vendor/bin/su,/system/app/Superuser.apk,/data/adb/ksu,/sbin/.magisk,/data/adb/magisk,/cache/.disable_magisk,/dev/.magisk.unblock"
    invoke-static {v0}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    array-length v1, v0
    const/4 v2, 0x0
    :loop
    if-ge v2, v1, :tags
    aget-object v3, v0, v2
    new-instance v4, Ljava/io/File;
    invoke-direct {v4, v3}, Ljava/io/File;-><init>(Ljava/lang/String;)V
    invoke-virtual {v4}, Ljava/io/File;->exists()Z
    move-result v4
    if-eqz v4, :next
    const-string v4, "magisk"
    invoke-virtual {v3, v4}, Ljava/lang/String;->contains(Ljava/lang/CharSequence;)Z
    move-result v4
    const-string v0, "ROOT_PATH"
    if-eqz v4, :report
    const-string v0, "MAGISK_PATH"
    :report
    invoke-static {v0, v3}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :next
    add-int/lit8 v2, v2, 0x1
    goto :loop
    :tags
    sget-object v0, Landroid/os/Build;->TAGS:Ljava/lang/String;
    if-eqz v0, :none
    const-string v1, "test-keys"
    invoke-virtual {v0, v1}, Ljava/lang/String;->contains(Ljava/lang/CharSequence;)Z
    move-result v1
    if-eqz v1, :none
    const-string v1, "TEST_KEYS"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :none
    const/4 v0, 0x0
    return-object v0
.end method

# emulator: emulator markers in Build.FINGERPRINT, MODEL, HARDWARE, PRODUCT
.method static emulator()[Ljava/lang/String;
    .locals 8
    const/4 v0, 0x4
    new-array v0, v0, [Ljava/lang/String;
    const/4 v2, 0x0
    sget-object v1, Landroid/os/Build;->FINGERPRINT:Ljava/lang/String;
    aput-object v1, v0, v2
    const/4 v2, 0x1
    sget-object v1, Landroid/os/Build;->MODEL:Ljava/lang/String;
    aput-object v1, v0, v2
    const/4 v2, 0x2
    sget-object v1, Landroid/os/Build;->HARDWARE:Ljava/lang/String;
    aput-object v1, v0, v2
    const/4 v2, 0x3
    sget-object v1, Landroid/os/Build;->PRODUCT:Ljava/lang/String;
    aput-object v1, v0, v2
    const-string v1, "FINGERPRINT,MODEL,HARDWARE,PRODUCT"
    invoke-static {v1}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v1
    const-string v2, "generic,goldfish,ranchu,sdk_gphone,emulator,vbox86,android sdk built for"
    invoke-static {v2}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v2
    const/4 v3, 0x0
    :outer
    const/4 v4, 0x4
    if-ge v3, v4, :none
    aget-object v4, v0, v3
    if-eqz v4, :onext
    sget-object v5, Ljava/util/Locale;->ROOT:Ljava/util/Locale;
    invoke-virtual {v4, v5}, Ljava/lang/String;->toLowerCase(Ljava/util/Locale;)Ljava/lang/String;
    move-result-object v5
    array-length v6, v2
    :inner
    if-lez v6, :onext
    add-int/lit8 v6, v6, -0x1
    aget-object v7, v2, v6
    invoke-virtual {v5, v7}, Ljava/lang/String;->contains(Ljava/lang/CharSequence;)Z
    move-result v7
    if-eqz v7, :inner
    aget-object v5, v1, v3
    const-string v7, "="
    invoke-virtual {v5, v7}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v5
    invoke-virtual {v5, v4}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v5
    const-string v7, "EMULATOR_PROPERTY"
    invoke-static {v7, v5}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :onext
    add-int/lit8 v3, v3, 0x1
    goto :outer
    :none
    const/4 v0, 0x0
    return-object v0
.end method

# hooking: Frida / Xposed / LSPosed / Substrate / Riru / Zygisk in
# /proc/self/maps, or the XposedBridge class loadable
.method static hooking()[Ljava/lang/String;
    .locals 5
    const-string v0, "/proc/self/maps"
    invoke-static {v0}, Lio/trustfuse/runtime/U;->readText(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    if-eqz v0, :cls
    sget-object v1, Ljava/util/Locale;->ROOT:Ljava/util/Locale;
    invoke-virtual {v0, v1}, Ljava/lang/String;->toLowerCase(Ljava/util/Locale;)Ljava/lang/String;
    move-result-object v0
    const-string v1, "frida,xposed,lsposed,substrate,libriru,zygisk"
    invoke-static {v1}, Lio/trustfuse/runtime/U;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v1
    array-length v2, v1
    const/4 v3, 0x0
    :loop
    if-ge v3, v2, :cls
    aget-object v4, v1, v3
    invoke-virtual {v0, v4}, Ljava/lang/String;->contains(Ljava/lang/CharSequence;)Z
    move-result v4
    if-eqz v4, :next
    const-string v0, "HOOK_LIBRARY"
    aget-object v4, v1, v3
    invoke-static {v0, v4}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :next
    add-int/lit8 v3, v3, 0x1
    goto :loop
    :cls
    const-string v0, "de.robv.android.xposed.XposedBridge"
    :try_start
    invoke-static {v0}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :none
    const-string v1, "XPOSED_CLASS"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/Checks;->r(Ljava/lang/String;Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :none
    const/4 v0, 0x0
    return-object v0
.end method
