# Vault: unseals assets/trustfuse/vault.bin (format in docs/runtime.md and
# pkg/vault). K = HKDF-SHA256(pepper || signerCertSHA256, salt, "trustfuse vault v1"),
# AES-256-GCM with AAD = magic || version || salt || SHA-256(policy.bin).
.class final Lio/trustfuse/runtime/Vault;
.super Ljava/lang/Object;


.method private constructor <init>()V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

# pepper() -> the 32-byte key part compiled into this dex (androidrt.Pepper)
.method static pepper()[B
    .locals 1
    const/16 v0, 0x20
    new-array v0, v0, [B
    fill-array-data v0, :pepper
    return-object v0
    :pepper
    .array-data 1
        -0x4t -0x4ft 0x7bt -0x5ft 0x51t 0x1dt -0x50t 0x27t
        -0x21t -0x6ct -0x11t 0x1et -0x5bt 0x12t -0x5ft -0x5et
        -0x19t -0x41t -0x5et 0xet 0x6t 0x6ct -0x1dt -0x4bt
        -0x3ct -0x3dt 0x2at 0x61t -0x32t -0x40t -0x42t -0x63t
    .end array-data
.end method

# open(vault, signerDigest, policyBytes) -> {PrivateKey or null, X509Certificate[], byte[] attestKey}
.method static open([B[B[B)[Ljava/lang/Object;
    .locals 9
    array-length v0, p0
    const/16 v1, 0x41
    if-lt v0, v1, :bad
    new-instance v0, Ljava/io/DataInputStream;
    new-instance v1, Ljava/io/ByteArrayInputStream;
    invoke-direct {v1, p0}, Ljava/io/ByteArrayInputStream;-><init>([B)V
    invoke-direct {v0, v1}, Ljava/io/DataInputStream;-><init>(Ljava/io/InputStream;)V
    invoke-virtual {v0}, Ljava/io/DataInputStream;->readInt()I
    move-result v1
    const v2, 0x54465631
    if-ne v1, v2, :bad
    invoke-virtual {v0}, Ljava/io/DataInputStream;->readUnsignedByte()I
    move-result v1
    const/4 v2, 0x1
    if-ne v1, v2, :bad
    const/16 v1, 0x20
    new-array v1, v1, [B
    invoke-virtual {v0, v1}, Ljava/io/DataInputStream;->readFully([B)V
    const/16 v2, 0xc
    new-array v2, v2, [B
    invoke-virtual {v0, v2}, Ljava/io/DataInputStream;->readFully([B)V
    array-length v3, p0
    add-int/lit8 v3, v3, -0x31
    new-array v3, v3, [B
    invoke-virtual {v0, v3}, Ljava/io/DataInputStream;->readFully([B)V

    # PRK = HMAC(salt, pepper || signerDigest)
    new-instance v4, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v4}, Ljava/io/ByteArrayOutputStream;-><init>()V
    invoke-static {}, Lio/trustfuse/runtime/Vault;->pepper()[B
    move-result-object v5
    invoke-virtual {v4, v5}, Ljava/io/ByteArrayOutputStream;->write([B)V
    invoke-virtual {v4, p1}, Ljava/io/ByteArrayOutputStream;->write([B)V
    invoke-virtual {v4}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v4
    invoke-static {v1, v4}, Lio/trustfuse/runtime/U;->hmac([B[B)[B
    move-result-object v4

    # K = HMAC(PRK, info || 0x01)
    new-instance v5, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v5}, Ljava/io/ByteArrayOutputStream;-><init>()V
    const-string v6, "trustfuse vault v1"
    const-string v7, "UTF-8"
    invoke-virtual {v6, v7}, Ljava/lang/String;->getBytes(Ljava/lang/String;)[B
    move-result-object v6
    invoke-virtual {v5, v6}, Ljava/io/ByteArrayOutputStream;->write([B)V
    const/4 v6, 0x1
    invoke-virtual {v5, v6}, Ljava/io/ByteArrayOutputStream;->write(I)V
    invoke-virtual {v5}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v5
    invoke-static {v4, v5}, Lio/trustfuse/runtime/U;->hmac([B[B)[B
    move-result-object v4

    # AAD = vault[0:37] || SHA-256(policy)
    new-instance v5, Ljava/io/ByteArrayOutputStream;
    invoke-direct {v5}, Ljava/io/ByteArrayOutputStream;-><init>()V
    const/4 v6, 0x0
    const/16 v7, 0x25
    invoke-virtual {v5, p0, v6, v7}, Ljava/io/ByteArrayOutputStream;->write([BII)V
    invoke-static {p2}, Lio/trustfuse/runtime/U;->sha256([B)[B
    move-result-object v6
    invoke-virtual {v5, v6}, Ljava/io/ByteArrayOutputStream;->write([B)V
    invoke-virtual {v5}, Ljava/io/ByteArrayOutputStream;->toByteArray()[B
    move-result-object v5

    const-string v6, "AES/GCM/NoPadding"
    invoke-static {v6}, Ljavax/crypto/Cipher;->getInstance(Ljava/lang/String;)Ljavax/crypto/Cipher;
    move-result-object v6
    new-instance v7, Ljavax/crypto/spec/SecretKeySpec;
    const-string v8, "AES"
    invoke-direct {v7, v4, v8}, Ljavax/crypto/spec/SecretKeySpec;-><init>([BLjava/lang/String;)V
    new-instance v8, Ljavax/crypto/spec/GCMParameterSpec;
    const/16 v0, 0x80
    invoke-direct {v8, v0, v2}, Ljavax/crypto/spec/GCMParameterSpec;-><init>(I[B)V
    const/4 v0, 0x2
    invoke-virtual {v6, v0, v7, v8}, Ljavax/crypto/Cipher;->init(ILjava/security/Key;Ljava/security/spec/AlgorithmParameterSpec;)V
    invoke-virtual {v6, v5}, Ljavax/crypto/Cipher;->updateAAD([B)V
    invoke-virtual {v6, v3}, Ljavax/crypto/Cipher;->doFinal([B)[B
    move-result-object v0
    invoke-static {v0}, Lio/trustfuse/runtime/Vault;->parse([B)[Ljava/lang/Object;
    move-result-object v0
    return-object v0
    :bad
    new-instance v0, Ljava/security/GeneralSecurityException;
    const-string v1, "trustfuse: not a TFV1 vault"
    invoke-direct {v0, v1}, Ljava/security/GeneralSecurityException;-><init>(Ljava/lang/String;)V
    throw v0
.end method

# parse(plaintext) -> {PrivateKey or null (empty key: attested mode), X509Certificate[], byte[]}
.method static parse([B)[Ljava/lang/Object;
    .locals 9
    new-instance v0, Ljava/io/DataInputStream;
    new-instance v1, Ljava/io/ByteArrayInputStream;
    invoke-direct {v1, p0}, Ljava/io/ByteArrayInputStream;-><init>([B)V
    invoke-direct {v0, v1}, Ljava/io/DataInputStream;-><init>(Ljava/io/InputStream;)V
    invoke-static {v0}, Lio/trustfuse/runtime/Vault;->field(Ljava/io/DataInputStream;)[B
    move-result-object v1
    invoke-virtual {v0}, Ljava/io/DataInputStream;->readUnsignedShort()I
    move-result v2
    new-array v3, v2, [Ljava/security/cert/X509Certificate;
    const-string v4, "X.509"
    invoke-static {v4}, Ljava/security/cert/CertificateFactory;->getInstance(Ljava/lang/String;)Ljava/security/cert/CertificateFactory;
    move-result-object v4
    const/4 v5, 0x0
    :loop
    if-ge v5, v2, :certs_done
    invoke-static {v0}, Lio/trustfuse/runtime/Vault;->field(Ljava/io/DataInputStream;)[B
    move-result-object v6
    new-instance v7, Ljava/io/ByteArrayInputStream;
    invoke-direct {v7, v6}, Ljava/io/ByteArrayInputStream;-><init>([B)V
    invoke-virtual {v4, v7}, Ljava/security/cert/CertificateFactory;->generateCertificate(Ljava/io/InputStream;)Ljava/security/cert/Certificate;
    move-result-object v6
    check-cast v6, Ljava/security/cert/X509Certificate;
    aput-object v6, v3, v5
    add-int/lit8 v5, v5, 0x1
    goto :loop
    :certs_done
    invoke-static {v0}, Lio/trustfuse/runtime/Vault;->field(Ljava/io/DataInputStream;)[B
    move-result-object v6
    const/4 v5, 0x0
    # attested mode: no private key (u32 len 0), the chain is the issuer CA's
    const/4 v7, 0x0
    array-length v8, v1
    if-eqz v8, :keyless
    aget-object v7, v3, v5
    invoke-virtual {v7}, Ljava/security/cert/X509Certificate;->getPublicKey()Ljava/security/PublicKey;
    move-result-object v7
    invoke-interface {v7}, Ljava/security/Key;->getAlgorithm()Ljava/lang/String;
    move-result-object v7
    invoke-static {v7}, Ljava/security/KeyFactory;->getInstance(Ljava/lang/String;)Ljava/security/KeyFactory;
    move-result-object v7
    new-instance v8, Ljava/security/spec/PKCS8EncodedKeySpec;
    invoke-direct {v8, v1}, Ljava/security/spec/PKCS8EncodedKeySpec;-><init>([B)V
    invoke-virtual {v7, v8}, Ljava/security/KeyFactory;->generatePrivate(Ljava/security/spec/KeySpec;)Ljava/security/PrivateKey;
    move-result-object v7
    :keyless
    const/4 v8, 0x3
    new-array v8, v8, [Ljava/lang/Object;
    aput-object v7, v8, v5
    const/4 v5, 0x1
    aput-object v3, v8, v5
    const/4 v5, 0x2
    aput-object v6, v8, v5
    return-object v8
.end method

# field(in) -> u32 length-prefixed bytes, bounded by what is left
.method static field(Ljava/io/DataInputStream;)[B
    .locals 2
    invoke-virtual {p0}, Ljava/io/DataInputStream;->readInt()I
    move-result v0
    if-ltz v0, :bad
    invoke-virtual {p0}, Ljava/io/DataInputStream;->available()I
    move-result v1
    if-gt v0, v1, :bad
    new-array v0, v0, [B
    invoke-virtual {p0, v0}, Ljava/io/DataInputStream;->readFully([B)V
    return-object v0
    :bad
    new-instance v0, Ljava/io/EOFException;
    const-string v1, "trustfuse: bad vault field"
    invoke-direct {v0, v1}, Ljava/io/EOFException;-><init>(Ljava/lang/String;)V
    throw v0
.end method
