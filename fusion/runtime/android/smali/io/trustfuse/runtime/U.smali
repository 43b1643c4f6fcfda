# U: small static helpers shared by the runtime (hex, SHA-256, HMAC, asset
# and file reading, policy lookups, logging).
.class final Lio/trustfuse/runtime/U;
.super Ljava/lang/Object;


.method private constructor <init>()V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

# hex(bytes) -> lowercase hex string
.method static hex([B)Ljava/lang/String;
    .locals 6
    new-instance v0, Ljava/lang/StringBuilder;
    array-length v1, p0
    mul-int/lit8 v2, v1, 0x2
    invoke-direct {v0, v2}, Ljava/lang/StringBuilder;-><init>(I)V
    const/16 v5, 0x10
    const/4 v2, 0x0
    :loop
    if-ge v2, v1, :done
    aget-byte v3, p0, v2
    shr-int/lit8 v4, v3, 0x4
    and-int/lit8 v4, v4, 0xf
    invoke-static {v4, v5}, Ljava/lang/Character;->forDigit(II)C
    move-result v4
    invoke-virtual {v0, v4}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    and-int/lit8 v4, v3, 0xf
    invoke-static {v4, v5}, Ljava/lang/Character;->forDigit(II)C
    move-result v4
    invoke-virtual {v0, v4}, Ljava/lang/StringBuilder;->append(C)Ljava/lang/StringBuilder;
    add-int/lit8 v2, v2, 0x1
    goto :loop
    :done
    invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

# unhex(string) -> bytes; IllegalArgumentException on odd length or a non-hex digit
.method static unhex(Ljava/lang/String;)[B
    .locals 6
    invoke-virtual {p0}, Ljava/lang/String;->length()I
    move-result v0
    and-int/lit8 v1, v0, 0x1
    if-nez v1, :bad
    div-int/lit8 v1, v0, 0x2
    new-array v2, v1, [B
    const/16 v0, 0x10
    const/4 v3, 0x0
    :loop
    if-ge v3, v1, :done
    mul-int/lit8 v4, v3, 0x2
    invoke-virtual {p0, v4}, Ljava/lang/String;->charAt(I)C
    move-result v5
    invoke-static {v5, v0}, Ljava/lang/Character;->digit(CI)I
    move-result v5
    if-ltz v5, :bad
    add-int/lit8 v4, v4, 0x1
    invoke-virtual {p0, v4}, Ljava/lang/String;->charAt(I)C
    move-result v4
    invoke-static {v4, v0}, Ljava/lang/Character;->digit(CI)I
    move-result v4
    if-ltz v4, :bad
    shl-int/lit8 v5, v5, 0x4
    or-int/2addr v5, v4
    int-to-byte v5, v5
    aput-byte v5, v2, v3
    add-int/lit8 v3, v3, 0x1
    goto :loop
    :done
    return-object v2
    :bad
    new-instance v0, Ljava/lang/IllegalArgumentException;
    const-string v1, "trustfuse: bad hex"
    invoke-direct {v0, v1}, Ljava/lang/IllegalArgumentException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

.method static sha256([B)[B
    .locals 1
    const-string v0, "SHA-256"
    invoke-static {v0}, Ljava/security/MessageDigest;->getInstance(Ljava/lang/String;)Ljava/security/MessageDigest;
    move-result-object v0
    invoke-virtual {v0, p0}, Ljava/security/MessageDigest;->digest([B)[B
    move-result-object v0
    return-object v0
.end method

# sha256(stream): digests and closes the stream
.method static sha256(Ljava/io/InputStream;)[B
    .locals 4
    const-string v0, "SHA-256"
    invoke-static {v0}, Ljava/security/MessageDigest;->getInstance(Ljava/lang/String;)Ljava/security/MessageDigest;
    move-result-object v0
    const/16 v1, 0x2000
    new-array v1, v1, [B
    :try_start
    :loop
    invoke-virtual {p0, v1}, Ljava/io/InputStream;->read([B)I
    move-result v2
    if-ltz v2, :done
    const/4 v3, 0x0
    invoke-virtual {v0, v1, v3, v2}, Ljava/security/MessageDigest;->update([BII)V
    goto :loop
    :done
    :try_end
    .catchall {:try_start .. :try_end} :fin
    invoke-virtual {p0}, Ljava/io/InputStream;->close()V
    invoke-virtual {v0}, Ljava/security/MessageDigest;->digest()[B
    move-result-object v0
    return-object v0
    :fin
    move-exception v1
    invoke-virtual {p0}, Ljava/io/InputStream;->close()V
    throw v1
.end method

# readAll(stream, max): reads and closes the stream; IOException beyond max bytes
.method static readAll(Ljava/io/InputStream;I)[B
    .locals 4
    new-instance v0, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v0}, Ljava/io/ByteArrayOutputStream;-><init>()V
    const/16 v1, 0x2000
    new-array v1, v1, [B
    :try_start
    :loop
    invoke-virtual {p0, v1}, Ljava/io/InputStream;->read([B)I
    move-result v2
    if-ltz v2, :done
    const/4 v3, 0x0
    invoke-virtual {v0, v1, v3, v2}, Ljava/io/ByteArrayOutputStream;->write([BII)V
    invoke-virtual {v0}, Ljava/io/ByteArrayOutputStream;->size()I
    move-result v2
    if-le v2, p1, :loop
    new-instance v2, Ljava/io/IOException;
    const-string v3, "trustfuse: input too large"
    invoke-direct {v2, v3}, Ljava/io/IOException;-><init>(Ljava/lang/String;)V
    throw v2
    :done
    :try_end
    .catchall {:try_start .. :try_end} :fin
    invoke-virtual {p0}, Ljava/io/InputStream;->close()V
    invoke-virtual {v0}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v0
    return-object v0
    :fin
    move-exception v1
    invoke-virtual {p0}, Ljava/io/InputStream;->close()V
    throw v1
.end method

# asset(context, name) -> bytes, or null when the asset does not exist
.method static asset(Landroid/content/Context;Ljava/lang/String;)[B
    .locals 2
    :try_start
    invoke-virtual {p0}, Landroid/content/Context;->getAssets()Landroid/content/res/AssetManager;
    move-result-object v0
    invoke-virtual {v0, p1}, Landroid/content/res/AssetManager;->open(Ljava/lang/String;)Ljava/io/InputStream;
    move-result-object v0
    const/high16 v1, 0x400000
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->readAll(Ljava/io/InputStream;I)[B
    move-result-object v0
    :try_end
    .catch Ljava/io/IOException; {:try_start .. :try_end} :none
    return-object v0
    :none
    const/4 v0, 0x0
    return-object v0
.end method

# readText(path) -> file contents as ISO-8859-1 text, or null
.method static readText(Ljava/lang/String;)Ljava/lang/String;
    .locals 3
    :try_start
    new-instance v0, Ljava/io/FileInputStream;
    invoke-direct {v0, p0}, Ljava/io/FileInputStream;-><init>(Ljava/lang/String;)V
    const/high16 v1, 0x1000000
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->readAll(Ljava/io/InputStream;I)[B
    move-result-object v0
    new-instance v1, Ljava/lang/String;
    const-string v2, "ISO-8859-1"
    invoke-direct {v1, v0, v2}, Ljava/lang/String;-><init>([BLjava/lang/String;)V
    :try_end
    .catch Ljava/lang/Exception; {:try_start .. :try_end} :none
    return-object v1
    :none
    const/4 v1, 0x0
    return-object v1
.end method

# split(list) -> items of a comma-separated list; empty array for null or ""
.method static split(Ljava/lang/String;)[Ljava/lang/String;
    .locals 1
    if-eqz p0, :empty
    invoke-virtual {p0}, Ljava/lang/String;->length()I
    move-result v0
    if-eqz v0, :empty
    const-string v0, ","
    invoke-virtual {p0, v0}, Ljava/lang/String;->split(Ljava/lang/String;)[Ljava/lang/String;
    move-result-object v0
    return-object v0
    :empty
    const/4 v0, 0x0
    new-array v0, v0, [Ljava/lang/String;
    return-object v0
.end method

.method static contains([Ljava/lang/String;Ljava/lang/String;)Z
    .locals 3
    if-eqz p1, :no
    array-length v0, p0
    const/4 v1, 0x0
    :loop
    if-ge v1, v0, :no
    aget-object v2, p0, v1
    invoke-virtual {p1, v2}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v2
    if-nez v2, :yes
    add-int/lit8 v1, v1, 0x1
    goto :loop
    :yes
    const/4 v0, 0x1
    return v0
    :no
    const/4 v0, 0x0
    return v0
.end method

# hmac(key, data) -> HMAC-SHA256
.method static hmac([B[B)[B
    .locals 3
    const-string v0, "HmacSHA256"
    invoke-static {v0}, Ljavax/crypto/Mac;->getInstance(Ljava/lang/String;)Ljavax/crypto/Mac;
    move-result-object v1
    new-instance v2, Ljavax/crypto/spec/SecretKeySpec;
    invoke-direct {v2, p0, v0}, Ljavax/crypto/spec/SecretKeySpec;-><init>([BLjava/lang/String;)V
    invoke-virtual {v1, v2}, Ljavax/crypto/Mac;->init(Ljava/security/Key;)V
    invoke-virtual {v1, p1}, Ljavax/crypto/Mac;->doFinal([B)[B
    move-result-object v0
    return-object v0
.end method

# prop(policy, key) -> value or ""
.method static prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    .locals 1
    const-string v0, ""
    invoke-virtual {p0, p1, v0}, Ljava/util/Properties;->getProperty(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

.method static propTrue(Ljava/util/Properties;Ljava/lang/String;)Z
    .locals 1
    invoke-static {p0, p1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object p1
    const-string v0, "true"
    invoke-virtual {v0, p1}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v0
    return v0
.end method

# propLong(policy, key) -> decimal value, 0 when absent or malformed
.method static propLong(Ljava/util/Properties;Ljava/lang/String;)J
    .locals 2
    :try_start
    invoke-static {p0, p1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-static {v0}, Ljava/lang/Long;->parseLong(Ljava/lang/String;)J
    move-result-wide v0
    :try_end
    .catch Ljava/lang/NumberFormatException; {:try_start .. :try_end} :bad
    return-wide v0
    :bad
    const-wide/16 v0, 0x0
    return-wide v0
.end method

.method static log(Ljava/lang/String;)V
    .locals 1
    const-string v0, "TrustFuse"
    invoke-static {v0, p0}, Landroid/util/Log;->w(Ljava/lang/String;Ljava/lang/String;)I
    return-void
.end method

.method static log(Ljava/lang/String;Ljava/lang/Throwable;)V
    .locals 1
    const-string v0, "TrustFuse"
    invoke-static {v0, p0, p1}, Landroid/util/Log;->w(Ljava/lang/String;Ljava/lang/String;Ljava/lang/Throwable;)I
    return-void
.end method
