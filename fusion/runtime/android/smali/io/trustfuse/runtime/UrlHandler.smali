# UrlHandler: the https handler of Urls. openConnection re-parses the URL
# against a template that holds the platform handler (so the platform opens
# the connection), then lets Attest.decorate set the token header.
.class final Lio/trustfuse/runtime/UrlHandler;
.super Ljava/net/URLStreamHandler;

.field final g:Lio/trustfuse/runtime/Guard;
# t: template URL of the same protocol, made before the factory was installed
.field final t:Ljava/net/URL;
.field final port:I


.method constructor <init>(Lio/trustfuse/runtime/Guard;Ljava/net/URL;I)V
    .locals 0
    invoke-direct {p0}, Ljava/net/URLStreamHandler;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/UrlHandler;->g:Lio/trustfuse/runtime/Guard;
    iput-object p2, p0, Lio/trustfuse/runtime/UrlHandler;->t:Ljava/net/URL;
    iput p3, p0, Lio/trustfuse/runtime/UrlHandler;->port:I
    return-void
.end method

# platform(u) -> u re-parsed with the platform handler
.method platform(Ljava/net/URL;)Ljava/net/URL;
    .locals 3
    new-instance v0, Ljava/net/URL;
    iget-object v1, p0, Lio/trustfuse/runtime/UrlHandler;->t:Ljava/net/URL;
    invoke-virtual {p1}, Ljava/net/URL;->toExternalForm()Ljava/lang/String;
    move-result-object v2
    invoke-direct {v0, v1, v2}, Ljava/net/URL;-><init>(Ljava/net/URL;Ljava/lang/String;)V
    return-object v0
.end method

.method protected openConnection(Ljava/net/URL;)Ljava/net/URLConnection;
    .locals 2
    invoke-virtual {p0, p1}, Lio/trustfuse/runtime/UrlHandler;->platform(Ljava/net/URL;)Ljava/net/URL;
    move-result-object v0
    invoke-virtual {v0}, Ljava/net/URL;->openConnection()Ljava/net/URLConnection;
    move-result-object v0
    iget-object v1, p0, Lio/trustfuse/runtime/UrlHandler;->g:Lio/trustfuse/runtime/Guard;
    invoke-static {v1, p1, v0}, Lio/trustfuse/runtime/Attest;->decorate(Lio/trustfuse/runtime/Guard;Ljava/net/URL;Ljava/net/URLConnection;)V
    return-object v0
.end method

.method protected openConnection(Ljava/net/URL;Ljava/net/Proxy;)Ljava/net/URLConnection;
    .locals 2
    invoke-virtual {p0, p1}, Lio/trustfuse/runtime/UrlHandler;->platform(Ljava/net/URL;)Ljava/net/URL;
    move-result-object v0
    invoke-virtual {v0, p2}, Ljava/net/URL;->openConnection(Ljava/net/Proxy;)Ljava/net/URLConnection;
    move-result-object v0
    iget-object v1, p0, Lio/trustfuse/runtime/UrlHandler;->g:Lio/trustfuse/runtime/Guard;
    invoke-static {v1, p1, v0}, Lio/trustfuse/runtime/Attest;->decorate(Lio/trustfuse/runtime/Guard;Ljava/net/URL;Ljava/net/URLConnection;)V
    return-object v0
.end method

.method protected getDefaultPort()I
    .locals 1
    iget v0, p0, Lio/trustfuse/runtime/UrlHandler;->port:I
    return v0
.end method
