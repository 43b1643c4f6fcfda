# ThreatEvents.Listener: receives each Threat-Event (keys as in the broadcast extras).
.class public interface abstract Lio/trustfuse/runtime/ThreatEvents$Listener;
.super Ljava/lang/Object;

.annotation system Ldalvik/annotation/EnclosingClass;
    value = Lio/trustfuse/runtime/ThreatEvents;
.end annotation

.annotation system Ldalvik/annotation/InnerClass;
    accessFlags = 0x609
    name = "Listener"
.end annotation


.method public abstract onThreatEvent(Ljava/util/Map;)V
    .annotation system Ldalvik/annotation/Signature;
        value = {
            "(",
            "Ljava/util/Map<",
            "Ljava/lang/String;",
            "Ljava/lang/String;",
            ">;)V"
        }
    .end annotation
.end method
