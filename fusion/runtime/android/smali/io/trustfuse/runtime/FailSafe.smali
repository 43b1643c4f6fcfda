# FailSafe: enforces a detect-mode threat as defend when the app has not
# called ThreatEvents.acknowledge(threatCode) within failSafe.afterMs.
.class final Lio/trustfuse/runtime/FailSafe;
.super Ljava/lang/Object;
.implements Ljava/lang/Runnable;


.field final g:Lio/trustfuse/runtime/Guard;
.field final threat:Ljava/lang/String;
.field final ms:J


.method constructor <init>(Lio/trustfuse/runtime/Guard;Ljava/lang/String;J)V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    iput-object p1, p0, Lio/trustfuse/runtime/FailSafe;->g:Lio/trustfuse/runtime/Guard;
    iput-object p2, p0, Lio/trustfuse/runtime/FailSafe;->threat:Ljava/lang/String;
    iput-wide p3, p0, Lio/trustfuse/runtime/FailSafe;->ms:J
    return-void
.end method

.method public run()V
    .locals 3
    iget-wide v0, p0, Lio/trustfuse/runtime/FailSafe;->ms:J
    const-wide/16 v2, 0x0
    cmp-long v2, v0, v2
    if-lez v2, :check
    :try_start
    invoke-static {v0, v1}, Ljava/lang/Thread;->sleep(J)V
    :try_end
    .catch Ljava/lang/InterruptedException; {:try_start .. :try_end} :check
    :check
    iget-object v0, p0, Lio/trustfuse/runtime/FailSafe;->threat:Ljava/lang/String;
    invoke-static {v0}, Lio/trustfuse/runtime/ThreatEvents;->acknowledged(Ljava/lang/String;)Z
    move-result v1
    if-nez v1, :acked
    const-string v1, "trustfuse: fail-safe: threat not acknowledged in time: "
    invoke-virtual {v1, v0}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-static {v1}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;)V
    iget-object v1, p0, Lio/trustfuse/runtime/FailSafe;->g:Lio/trustfuse/runtime/Guard;
    invoke-virtual {v1, v0}, Lio/trustfuse/runtime/Guard;->enforce(Ljava/lang/String;)V
    :acked
    return-void
.end method
