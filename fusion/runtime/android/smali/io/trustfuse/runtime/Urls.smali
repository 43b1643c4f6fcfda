# Urls: the URLStreamHandlerFactory that adds the attestation token header to
# plain URL connections (HttpsURLConnection) to the protected hosts, without
# app code. https only: the token never travels in cleartext (http URLs keep
# the platform handler). Installed once per VM by Init when the policy names
# an attestation endpoint. It reaches the platform's https handler without
# reflection: the template URL is made BEFORE the factory is installed, so it
# holds the platform handler, and
# URL(URL context, String spec) inherits context's handler when the protocols
# match (OpenJDK, and Android's libcore since N). If the app or a library set
# a factory first, setURLStreamHandlerFactory throws: logged once, and the
# header is then only set through Attest.attach.
.class final Lio/trustfuse/runtime/Urls;
.super Ljava/lang/Object;
.implements Ljava/net/URLStreamHandlerFactory;

# tried: install() ran once in this VM (Init runs once per process)
.field static tried:Z

.field final g:Lio/trustfuse/runtime/Guard;
.field final https:Ljava/net/URL;


.method constructor <init>(Lio/trustfuse/runtime/Guard;Ljava/net/URL;)V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/Urls;->g:Lio/trustfuse/runtime/Guard;
    iput-object p2, p0, Lio/trustfuse/runtime/Urls;->https:Ljava/net/URL;
    return-void
.end method

# install(guard): the factory, when the policy has attest.endpoint; never throws
.method static install(Lio/trustfuse/runtime/Guard;)V
    .locals 4
    sget-boolean v0, Lio/trustfuse/runtime/Urls;->tried:Z
    if-nez v0, :done
    const/4 v0, 0x1
    sput-boolean v0, Lio/trustfuse/runtime/Urls;->tried:Z
    iget-object v0, p0, Lio/trustfuse/runtime/Guard;->pol:Ljava/util/Properties;
    const-string v1, "attest.endpoint"
    invoke-static {v0, v1}, Lio/trustfuse/runtime/U;->prop(Ljava/util/Properties;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    invoke-virtual {v0}, Ljava/lang/String;->length()I
    move-result v0
    if-eqz v0, :done
    :try_start
    # the template holds the platform handler: made before the factory exists
    new-instance v0, Ljava/net/URL;
    const-string v1, "https://localhost/"
    invoke-direct {v0, v1}, Ljava/net/URL;-><init>(Ljava/lang/String;)V
    new-instance v2, Lio/trustfuse/runtime/Urls;
    invoke-direct {v2, p0, v0}, Lio/trustfuse/runtime/Urls;-><init>(Lio/trustfuse/runtime/Guard;Ljava/net/URL;)V
    invoke-static {v2}, Ljava/net/URL;->setURLStreamHandlerFactory(Ljava/net/URLStreamHandlerFactory;)V
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :taken
    const-string v0, "trustfuse: token header set on requests to protected hosts (URL handler factory)"
    invoke-static {v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    :done
    return-void
    :taken
    move-exception v0
    const-string v1, "trustfuse: a URL handler factory is already set; the token header is only set through Attest.attach"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    return-void
.end method

# createURLStreamHandler(protocol): the wrapper for https, else null (platform default)
.method public createURLStreamHandler(Ljava/lang/String;)Ljava/net/URLStreamHandler;
    .locals 4
    iget-object v1, p0, Lio/trustfuse/runtime/Urls;->https:Ljava/net/URL;
    const/16 v2, 0x1bb
    const-string v0, "https"
    invoke-virtual {v0, p1}, Ljava/lang/String;->equals(Ljava/lang/Object;)Z
    move-result v0
    if-nez v0, :wrap
    const/4 v0, 0x0
    return-object v0
    :wrap
    new-instance v0, Lio/trustfuse/runtime/UrlHandler;
    iget-object v3, p0, Lio/trustfuse/runtime/Urls;->g:Lio/trustfuse/runtime/Guard;
    invoke-direct {v0, v3, v1, v2}, Lio/trustfuse/runtime/UrlHandler;-><init>(Lio/trustfuse/runtime/Guard;Ljava/net/URL;I)V
    return-object v0
.end method
