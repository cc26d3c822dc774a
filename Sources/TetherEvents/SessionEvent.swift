/// One entry in a session's history: what happened, when, on which connection generation.
///
/// Encoded as one flat JSON object whose field names are the API's
/// (`type`, `reason`, `strategy`, `attempt`, `duration_ms`, ...).
public struct SessionEvent: Sendable, Equatable {
    /// Monotonic id assigned by the event log (the cursor); nil until stored.
    public var id: Int64?
    public var sessionID: String
    /// Wall-clock time in milliseconds since 1970.
    public var timeMs: Int64
    /// The connection generation the event belongs to (0 before the first socket).
    public var generation: UInt64
    public var kind: SessionEventKind
    /// A text field was longer than ``SessionEvent/maxTextBytes`` and was cut
    /// (``bounded()``); encoded as `"truncated": true` only when set.
    public var truncated: Bool
    /// The fleet instance that recorded it (PostgreSQL store); nil on a single-owner
    /// SQLite store. Stamped by the event log, encoded as `instance_id` when set.
    public var instanceID: String?

    public init(
        id: Int64? = nil, sessionID: String, timeMs: Int64, generation: UInt64, kind: SessionEventKind, truncated: Bool = false,
        instanceID: String? = nil
    ) {
        self.instanceID = instanceID
        self.id = id
        self.sessionID = sessionID
        self.timeMs = timeMs
        self.generation = generation
        self.kind = kind
        self.truncated = truncated
    }

    /// The `type` field: a stable snake_case name.
    public var type: String { kind.type }
}

/// The typed payload of a ``SessionEvent``.
public enum SessionEventKind: Sendable, Equatable {
    case sessionCreated(callID: String, userID: String, sfuURL: String)
    case joined(sfuURL: String, sfuSessionID: String)
    case joinFailed(code: String, message: String)
    case connectionLost(reason: LossReason, closeCode: Int?, detail: String?)
    case reconnectStarted(strategy: ReconnectStrategy, trigger: ReconnectTrigger)
    /// A trigger that arrived while a reconnection was running: recorded, not started twice.
    case triggerMerged(trigger: ReconnectTrigger, strategy: ReconnectStrategy?)
    case reconnectAttemptFailed(strategy: ReconnectStrategy, attempt: Int, step: AttemptStep, error: String)
    case strategyEscalated(from: ReconnectStrategy, to: ReconnectStrategy, reason: String)
    case reconnected(strategy: ReconnectStrategy, attempts: Int, durationMs: Int64, sfuURL: String, sfuSessionID: String)
    case reconnectFailed(reason: String, attempts: Int, durationMs: Int64)
    case sfuError(code: String, message: String, strategy: ReconnectStrategy?)
    case goAway(reason: String)
    case migrated(from: String, to: String)
    /// An operator's make-before-break MIGRATE could not join `to`; the session stays
    /// where it was, joined.
    case migrationFailed(to: String, error: String)
    case callEnded(reason: String)
    case left(reason: String)
    /// Tether restarted while the session was live; it is being rejoined.
    case resumedAfterRestart(sfuURL: String, previousSFUSessionID: String?)
    /// The history writer's queue was full (storage failing) and `count` of this
    /// session's events were not stored; written once storage recovers, so the gap is
    /// explicit rather than silent.
    case eventsDropped(count: Int)
    /// The session lost its connection again soon after recovering (a flap): the
    /// reconnection waits `delayMs` before its first attempt.
    case reconnectDelayed(reason: String, delayMs: Int64)
    /// The wall clock jumped by more than a second between this session's events; the
    /// times around it are stored as they happened. `fromMs` is where the clock was
    /// (or should have been), `toMs` where it went.
    case clockJump(fromMs: Int64, toMs: Int64)
    /// A session the SFU still held for us after a loss (it would have shown a second
    /// copy of the agent) was destroyed before or after the rejoin.
    case staleSessionDestroyed(sfuURL: String, sfuSessionID: String)
    /// A resumed SFU session had lost its place in the room while we were away (kicked,
    /// the room re-created): the participant joined the room again.
    case roomRejoined(reason: String)
    /// New SFU credentials came through the API (`token`, or `token_and_urls`).
    case credentialsUpdated(reason: String)
    /// Fresh credentials came from `--credentials-url` (`rejoin`, `migrate`,
    /// `unauthenticated`, `expiring`).
    case credentialsRefreshed(reason: String)
    case credentialsRefreshFailed(reason: String, error: String)
    /// The SFU sent more `error` and `go_away` notices than a session records per
    /// window; `count` of them were acted on but not recorded one by one.
    case sfuErrorsSuppressed(count: Int)
    /// The instance that owned the session stopped (its lease expired): `toInstance`
    /// claimed it under `epoch` and resumes it as after a restart.
    case adopted(fromInstance: String, toInstance: String, epoch: Int64)
    /// The owner handed the session over on shutdown or drain: `toInstance` took over
    /// the same SFU session, with no loss.
    case handedOver(fromInstance: String, toInstance: String, epoch: Int64)

    public var type: String {
        switch self {
        case .sessionCreated: "session_created"
        case .joined: "joined"
        case .joinFailed: "join_failed"
        case .connectionLost: "connection_lost"
        case .reconnectStarted: "reconnect_started"
        case .triggerMerged: "trigger_merged"
        case .reconnectAttemptFailed: "reconnect_attempt_failed"
        case .strategyEscalated: "strategy_escalated"
        case .reconnected: "reconnected"
        case .reconnectFailed: "reconnect_failed"
        case .sfuError: "sfu_error"
        case .goAway: "go_away"
        case .migrated: "migrated"
        case .migrationFailed: "migration_failed"
        case .callEnded: "call_ended"
        case .left: "left"
        case .resumedAfterRestart: "resumed_after_restart"
        case .eventsDropped: "events_dropped"
        case .reconnectDelayed: "reconnect_delayed"
        case .staleSessionDestroyed: "stale_session_destroyed"
        case .roomRejoined: "room_rejoined"
        case .credentialsUpdated: "credentials_updated"
        case .credentialsRefreshed: "credentials_refreshed"
        case .credentialsRefreshFailed: "credentials_refresh_failed"
        case .clockJump: "clock_jump"
        case .sfuErrorsSuppressed: "sfu_errors_suppressed"
        case .adopted: "adopted"
        case .handedOver: "handed_over"
        }
    }

    /// Every `type` value, for validating filters.
    public static let allTypes: [String] = [
        "session_created", "joined", "join_failed", "connection_lost", "reconnect_started",
        "trigger_merged", "reconnect_attempt_failed", "strategy_escalated", "reconnected",
        "reconnect_failed", "sfu_error", "go_away", "migrated", "call_ended", "left",
        "resumed_after_restart", "events_dropped", "clock_jump", "reconnect_delayed", "migration_failed",
        "stale_session_destroyed", "room_rejoined", "credentials_updated", "credentials_refreshed",
        "credentials_refresh_failed", "sfu_errors_suppressed", "adopted", "handed_over",
    ]
}
