# Notice: shows the defended threat's message as a long Toast (main thread).
.class final Lio/trustfuse/runtime/Notice;
.super Ljava/lang/Object;
.implements Ljava/lang/Runnable;


.field final ctx:Landroid/content/Context;
.field final msg:Ljava/lang/String;


.method constructor <init>(Landroid/content/Context;Ljava/lang/String;)V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/Notice;->ctx:Landroid/content/Context;
    iput-object p2, p0, Lio/trustfuse/runtime/Notice;->msg:Ljava/lang/String;
    return-void
.end method

.method public run()V
    .locals 3
    :try_start
    iget-object v0, p0, Lio/trustfuse/runtime/Notice;->ctx:Landroid/content/Context;
    iget-object v1, p0, Lio/trustfuse/runtime/Notice;->msg:Ljava/lang/String;
    const/4 v2, 0x1
    invoke-static {v0, v1, v2}, Landroid/widget/Toast;->makeText(Landroid/content/Context;Ljava/lang/CharSequence;I)Landroid/widget/Toast;
    move-result-object v0
    invoke-virtual {v0}, Landroid/widget/Toast;->show()V
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :err
    return-void
    :err
    return-void
.end method
