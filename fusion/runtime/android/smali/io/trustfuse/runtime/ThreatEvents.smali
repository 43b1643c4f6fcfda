# ThreatEvents: the in-process side of Threat-Events. Apps may register a
# Listener (called on the runtime's thread), read the recorded events,
# acknowledge a threat (stops fail-safe enforcement of a detect-mode event),
# set the externalID carried by later events, and wait for the start-up checks.
.class public final Lio/trustfuse/runtime/ThreatEvents;
.super Ljava/lang/Object;

.annotation system Ldalvik/annotation/MemberClasses;
    value = {
        Lio/trustfuse/runtime/ThreatEvents$Listener;
    }
.end annotation


.field private static final events:Ljava/util/List;
.field private static final acked:Ljava/util/Set;
.field private static final total:Ljava/util/concurrent/atomic/AtomicInteger;
.field private static final processId:Ljava/lang/String;
.field private static volatile listener:Lio/trustfuse/runtime/ThreatEvents$Listener;
.field private static volatile latch:Ljava/util/concurrent/CountDownLatch;
.field private static volatile externalId:Ljava/lang/String;


.method static constructor <clinit>()V
    .locals 1
    new-instance v0, Ljava/util/ArrayList;
    invoke-direct {v0}, Ljava/util/ArrayList;-><init>()V
    invoke-static {v0}, Ljava/util/Collections;->synchronizedList(Ljava/util/List;)Ljava/util/List;
    move-result-object v0
    sput-object v0, Lio/trustfuse/runtime/ThreatEvents;->events:Ljava/util/List;
    new-instance v0, Ljava/util/HashSet;
    invoke-direct {v0}, Ljava/util/HashSet;-><init>()V
    invoke-static {v0}, Ljava/util/Collections;->synchronizedSet(Ljava/util/Set;)Ljava/util/Set;
    move-result-object v0
    sput-object v0, Lio/trustfuse/runtime/ThreatEvents;->acked:Ljava/util/Set;
    new-instance v0, Ljava/util/concurrent/atomic/AtomicInteger;
    invoke-direct {v0}, Ljava/util/concurrent/atomic/AtomicInteger;-><init>()V
    sput-object v0, Lio/trustfuse/runtime/ThreatEvents;->total:Ljava/util/concurrent/atomic/AtomicInteger;
    invoke-static {}, Ljava/util/UUID;->randomUUID()Ljava/util/UUID;
    move-result-object v0
    invoke-virtual {v0}, Ljava/util/UUID;->toString()Ljava/lang/String;
    move-result-object v0
    sput-object v0, Lio/trustfuse/runtime/ThreatEvents;->processId:Ljava/lang/String;
    const-string v0, ""
    sput-object v0, Lio/trustfuse/runtime/ThreatEvents;->externalId:Ljava/lang/String;
    return-void
.end method

.method private constructor <init>()V
    .locals 0
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

.method public static setListener(Lio/trustfuse/runtime/ThreatEvents$Listener;)V
    .locals 0
    sput-object p0, Lio/trustfuse/runtime/ThreatEvents;->listener:Lio/trustfuse/runtime/ThreatEvents$Listener;
    return-void
.end method

# recorded() -> snapshot of the events raised so far (at most 100)
.method public static recorded()Ljava/util/List;
    .locals 2
    .annotation system Ldalvik/annotation/Signature;
        value = {
            "()",
            "Ljava/util/List<",
            "Ljava/util/Map<",
            "Ljava/lang/String;",
            "Ljava/lang/String;",
            ">;>;"
        }
    .end annotation
    new-instance v0, Ljava/util/ArrayList;
    sget-object v1, Lio/trustfuse/runtime/ThreatEvents;->events:Ljava/util/List;
    invoke-direct {v0, v1}, Ljava/util/ArrayList;-><init>(Ljava/util/Collection;)V
    invoke-static {v0}, Ljava/util/Collections;->unmodifiableList(Ljava/util/List;)Ljava/util/List;
    move-result-object v0
    return-object v0
.end method

.method public static acknowledge(Ljava/lang/String;)V
    .locals 1
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->acked:Ljava/util/Set;
    invoke-interface {v0, p0}, Ljava/util/Set;->add(Ljava/lang/Object;)Z
    return-void
.end method

.method static acknowledged(Ljava/lang/String;)Z
    .locals 1
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->acked:Ljava/util/Set;
    invoke-interface {v0, p0}, Ljava/util/Set;->contains(Ljava/lang/Object;)Z
    move-result v0
    return v0
.end method

.method public static setExternalID(Ljava/lang/String;)V
    .locals 0
    if-nez p0, :set
    const-string p0, ""
    :set
    sput-object p0, Lio/trustfuse/runtime/ThreatEvents;->externalId:Ljava/lang/String;
    return-void
.end method

.method static externalID()Ljava/lang/String;
    .locals 1
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->externalId:Ljava/lang/String;
    return-object v0
.end method

.method static installId()Ljava/lang/String;
    .locals 1
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->processId:Ljava/lang/String;
    return-object v0
.end method

# awaitChecks(millis) -> true once the start-up checks have finished
.method public static awaitChecks(J)Z
    .locals 2
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->latch:Ljava/util/concurrent/CountDownLatch;
    if-eqz v0, :no
    sget-object v1, Ljava/util/concurrent/TimeUnit;->MILLISECONDS:Ljava/util/concurrent/TimeUnit;
    :try_start
    invoke-virtual {v0, p0, p1, v1}, Ljava/util/concurrent/CountDownLatch;->await(JLjava/util/concurrent/TimeUnit;)Z
    move-result v0
    :try_end
    .catch Ljava/lang/InterruptedException; {:try_start .. :try_end} :no
    return v0
    :no
    const/4 v0, 0x0
    return v0
.end method

.method static attach(Ljava/util/concurrent/CountDownLatch;)V
    .locals 0
    sput-object p0, Lio/trustfuse/runtime/ThreatEvents;->latch:Ljava/util/concurrent/CountDownLatch;
    return-void
.end method

.method static addScore(I)I
    .locals 1
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->total:Ljava/util/concurrent/atomic/AtomicInteger;
    invoke-virtual {v0, p0}, Ljava/util/concurrent/atomic/AtomicInteger;->addAndGet(I)I
    move-result v0
    return v0
.end method

# deliver(event): record it and call the listener
.method static deliver(Ljava/util/Map;)V
    .locals 2
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->events:Ljava/util/List;
    invoke-interface {v0}, Ljava/util/List;->size()I
    move-result v1
    const/16 v0, 0x64
    if-ge v1, v0, :call
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->events:Ljava/util/List;
    invoke-interface {v0, p0}, Ljava/util/List;->add(Ljava/lang/Object;)Z
    :call
    sget-object v0, Lio/trustfuse/runtime/ThreatEvents;->listener:Lio/trustfuse/runtime/ThreatEvents$Listener;
    if-eqz v0, :done
    :try_start
    invoke-interface {v0, p0}, Lio/trustfuse/runtime/ThreatEvents$Listener;->onThreatEvent(Ljava/util/Map;)V
    :try_end
    .catch Ljava/lang/Throwable; {:try_start .. :try_end} :err
    :done
    return-void
    :err
    move-exception v0
    const-string v1, "trustfuse: Threat-Event listener failed"
    invoke-static {v1, v0}, Lio/trustfuse/runtime/U;->log(Ljava/lang/String;Ljava/lang/Throwable;)V
    return-void
.end method
