import Foundation
import TetherEvents

/// Everything a session is and decides: its state, its node, its SFU session, which
/// connection generation counts, which attempt is in flight, the notices that arrived
/// early, its counters, its credentials' timing and why it ended.
///
/// A pure state machine: no I/O, time and randomness are inputs, and every input returns
/// the actions for ``SessionRunner`` to execute, in order, each naming what it acts on
/// (`.close(generation, leaving:)`, `.cancelAttempt(id)`, `.startAttempt(id, plan)`).
/// It mints every ``GenerationID`` and ``AttemptID`` itself, so a late report from a
/// replaced connection or a cancelled attempt is recognised here, not in the executor.
///
/// The decisions, by concern: the first join and the triggers of a reconnection
/// (`Reconnector+Triggers`), attempts and their escalation (`+Attempts`), damping of
/// flaps (`+Flapping`), the node list, migrations and stale sessions (`+Nodes`),
/// credentials (`+Credentials`) and early notices (`+Notices`).
public struct Reconnector: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public enum Timer: Sendable, Hashable {
        /// The disconnection deadline of the running reconnection.
        case deadline
        /// The backoff before the next REJOIN attempt.
        case retry
        /// The end of the SFU's fast-reconnect window for a FAST attempt in flight.
        case fastWindow
        /// Shortly before the SFU token expires: fetch a fresh one.
        case credentialsExpiry
    }

    /// One attempt for the executor to run: dial `nodeIndex`, join with these details.
    public struct AttemptPlan: Sendable, Equatable {
        public var strategy: ReconnectStrategy
        /// 1-based count of attempts in this reconnection (or of first-join nodes tried).
        public var attempt: Int
        public var nodeIndex: Int
        /// The SFU session to resume (FAST only).
        public var resumeSessionID: String?
        public var previousSessionID: String?
        /// The node being left (MIGRATE only).
        public var fromNodeIndex: Int?
        /// What started the reconnection; nil for the first join.
        public var trigger: ReconnectTrigger?
        /// Our session from before the loss, still held by this node (the dialect leaves
        /// stale sessions): to destroy before joining anew.
        public var staleSessionID: String?
        /// The dialect's resume state for `resumeSessionID` and for `staleSessionID`.
        public var resumeState: String? = nil
        public var staleResumeState: String? = nil
        /// The session's first join: no reconnect details, no admission to wait for, no
        /// credentials to refresh (they came with the request).
        public var isFirstJoin = false
        /// The SFU token to join with (the executor may refresh it first).
        public var token = ""
    }

    public enum Action: Sendable, Equatable {
        case emit(SessionEventKind)
        case setState(SessionState)
        /// Close `generation` without a loss (we asked), sending `leaving` first (a
        /// leave, so the node lets the participant go at once). Closing a generation
        /// that is already closed does nothing.
        case close(GenerationID, leaving: SignalRequest?)
        case startAttempt(AttemptID, AttemptPlan)
        /// Stop the attempt and close whatever socket it opened.
        case cancelAttempt(AttemptID)
        case armTimer(Timer, at: Instant)
        case cancelTimer(Timer)
        /// The session moved on without leaving `sfuSessionID` on `sfuURL` (that node was
        /// unreachable, or left the list): destroy it there as soon as it answers, and
        /// report back through ``staleSessionDestroyed(sfuURL:sfuSessionID:)``. A URL, not
        /// an index: the node list may change meanwhile.
        case destroyStaleSession(sfuURL: String, sfuSessionID: String, resumeState: String? = nil)
        /// New credentials to keep (a restart rejoins with them).
        case storeCredentials(token: String, nodes: [String])
        /// Ask the credentials source for fresh ones (`reason`: `expiring`); the answer
        /// comes back through ``credentialsChanged(token:urls:origin:now:wallNow:unitRandom:)``.
        case refreshCredentials(reason: String)
    }

    /// Why an attempt failed, as the executor saw it.
    public struct AttemptFailure: Sendable, Equatable {
        public var step: AttemptStep
        public var message: String
        /// The strategy an SFU `error` asked for, if it named one.
        public var sfuStrategy: ReconnectStrategy?
        /// The node accepts no new sessions: the next attempt goes to another node.
        public var nodeRefused: Bool
        /// The SFU's code (`SFU_FULL`, `433`) or the transport's (`connect_timeout`): what a
        /// failed first join is reported with.
        public var code: String
        /// The SFU refused the credentials: fresh ones may succeed.
        public var unauthenticated: Bool
        /// The node refused to resume the session as unknown to it (a restart's evidence).
        public var sessionUnknown: Bool

        public init(
            step: AttemptStep, message: String, sfuStrategy: ReconnectStrategy? = nil, nodeRefused: Bool = false,
            code: String = "connect_failed", unauthenticated: Bool = false, sessionUnknown: Bool = false
        ) {
            self.step = step
            self.message = message
            self.sfuStrategy = sfuStrategy
            self.nodeRefused = nodeRefused
            self.code = code
            self.unauthenticated = unauthenticated
            self.sessionUnknown = sessionUnknown
        }
    }

    /// How an attempt ended.
    public enum AttemptResult: Sendable, Equatable {
        case joined(JoinAnswer)
        case failed(AttemptFailure)
        /// A FAST not dialed: its node is known to have restarted, so it holds nothing to resume.
        case fastRuledOut(reason: String)
    }

    /// What an operator's MIGRATE (or a drain) got.
    public enum MigrationVerdict: Sendable, Equatable {
        case started
        /// A reconnection was running: the request was merged into it.
        case merged
        case refused(code: String, message: String)
    }

    /// Where credentials came from.
    public enum CredentialsOrigin: Sendable, Equatable {
        /// `PUT /v1/sessions/{id}/credentials`.
        case api
        /// The credentials endpoint, asked for `reason` (`rejoin`, `migrate`, `unauthenticated`, `expiring`).
        case endpoint(reason: String)
    }

    struct Recovery: Sendable, Equatable {
        var startedAt: Instant
        var deadline: Instant
        var trigger: ReconnectTrigger
        var strategy: ReconnectStrategy
        var attempts = 0
        /// Failed attempts so far: the n-th retry waits backoff(n), whatever the strategy.
        var retries = 0
        /// A FAST attempt failed in this reconnection: FAST is never tried again.
        var fastFailed = false
        /// The node the next attempt dials.
        var targetNode: Int
        /// A strategy asked for by a trigger merged into this reconnection.
        var mergedStrategy: ReconnectStrategy?
        /// Until when the SFU still holds our session for FAST.
        var fastValidUntil: Instant
        /// An operator's MIGRATE that keeps the current connection until the target
        /// has joined; if the target fails, the session stays where it is.
        var makeBeforeBreak = false
        /// The connection kept by a make-before-break MIGRATE was lost meanwhile: a
        /// failure then falls back to the usual escalation.
        var keptConnectionLost = false
        /// The node we were on was told we leave (a MIGRATE's leave on a live socket), so
        /// it holds no stale session of ours.
        var leftPreviousNode = false
    }

    struct InFlight: Sendable, Equatable {
        var id: AttemptID
        var plan: AttemptPlan
    }

    public let policy: ReconnectPolicy
    public internal(set) var nodes: [String]
    /// Operator MIGRATEs join the target before leaving (the dialect allows it).
    public let makeBeforeBreak: Bool
    /// After a restart, FAST is tried first (the SFU resumes a session from any socket).
    public let resumesAcrossRestarts: Bool
    /// The SFU keeps a lost session in the call until it is destroyed or expires: every
    /// new join must first get rid of the one we left behind.
    public let leavesStaleSessions: Bool
    /// A credentials source exists: a token that says when it expires is refreshed before.
    public let refreshesCredentials: Bool
    public internal(set) var state: SessionState = .connecting
    public internal(set) var nodeIndex = 0
    public internal(set) var sfuSessionID: String?
    /// What the dialect needs to resume `sfuSessionID` (opaque; ``JoinAnswer/resumeState``).
    public internal(set) var resumeState: String?
    /// The SFU token the next join uses; never logged, never returned.
    public internal(set) var token: String
    public internal(set) var counters = SessionCounters()
    /// Why the session ended; set by the terminal transition, and only there.
    public internal(set) var endReason: EndReason?
    /// The connection that counts: the last one that joined (before any join, the
    /// number generations continue from).
    public internal(set) var generation: GenerationID
    /// The current generation was closed (retired, lost and closed, or never opened).
    var generationClosed = true
    /// The last attempt (and generation) number minted.
    var lastMinted: UInt64
    var inFlight: InFlight?
    /// What the in-flight attempt's generation reported before its success was processed.
    var earlyNotices: [GenerationNotice] = []
    /// The node the session is on left the list: its next reconnection cannot resume
    /// there, and the session it holds there is stale. Holds that node's URL.
    var removedNode: String?
    /// A node list that arrived while an attempt was in flight: applied once it is
    /// settled, so no plan's indexes ever point into a different list.
    var pendingNodes: [String]?
    var fastWindow: Duration
    var recovery: Recovery?
    /// When the last reconnection succeeded, to tell a flap from a stable connection.
    var lastRecoveredAt: Instant?
    /// Successful recoveries within the flap window, oldest first.
    var recentRecoveries: [Instant] = []
    /// Consecutive losses that came within `stableAfter` of a recovery.
    var flaps = 0
    /// The `exp` the armed expiry refresh is for.
    var expiryScheduledFor: Date?
    var expiryArmed = false
    /// The snapshot last handed out by ``takeSnapshotIfChanged()``.
    var reported: SessionSnapshot?

    /// `firstGeneration`: the number generations continue after (a session resumed
    /// after a restart keeps counting where the previous process stopped).
    public init(
        policy: ReconnectPolicy, nodes: [String], token: String = "", firstGeneration: UInt64 = 0,
        makeBeforeBreak: Bool = false, resumesAcrossRestarts: Bool = false, leavesStaleSessions: Bool = false,
        refreshesCredentials: Bool = false
    ) {
        precondition(!nodes.isEmpty, "a session needs at least one SFU node")
        self.policy = policy
        self.nodes = nodes
        self.token = token
        self.generation = GenerationID(firstGeneration)
        self.lastMinted = firstGeneration
        self.makeBeforeBreak = makeBeforeBreak
        self.resumesAcrossRestarts = resumesAcrossRestarts
        self.leavesStaleSessions = leavesStaleSessions
        self.refreshesCredentials = refreshesCredentials
        self.fastWindow = policy.fastReconnectWindow
    }

    /// The attempt count of the reconnection in progress (0 when none runs).
    public var currentAttempt: Int { recovery?.attempts ?? 0 }
    public var currentNode: String { nodes[nodeIndex] }
    /// The attempt in flight, if any.
    public var attemptInFlight: AttemptID? { inFlight?.id }
    /// True while a timer of the running reconnection is armed (the deadline always is).
    public var hasRecovery: Bool { recovery != nil }

    /// The session as the API shows it.
    public var snapshot: SessionSnapshot {
        SessionSnapshot(
            state: state, sfuURL: currentNode, sfuSessionID: sfuSessionID, resumeState: resumeState, generation: generation.value,
            counters: counters, currentAttempt: currentAttempt, end: endReason)
    }

    /// The snapshot, when it changed since the last call: what the executor reports
    /// (and persists) once per batch of actions.
    public mutating func takeSnapshotIfChanged() -> SessionSnapshot? {
        let current = snapshot
        guard current != reported else { return nil }
        reported = current
        return current
    }

    /// Mints the next attempt (and the generation it dials).
    mutating func mintAttempt() -> AttemptID {
        lastMinted += 1
        return AttemptID(lastMinted)
    }

    // MARK: - Ending

    /// The one terminal transition: stops whatever runs, records the end, and keeps its
    /// reason. Every way a session ends goes through here.
    mutating func finish(_ end: EndReason, attempts: Int = 0, durationMs: Int64 = 0) -> [Action] {
        let actions = stopWork()
        state = end.state
        endReason = end
        if case .reconnectFailed = end { counters.failedReconnects += 1 }
        return actions + [.emit(end.event(attempts: attempts, durationMs: durationMs)), .setState(state)]
    }

    /// Cancels the attempt, the recovery's timers and the expiry refresh.
    private mutating func stopWork() -> [Action] {
        var actions: [Action] = []
        if let inFlight {
            actions.append(.cancelAttempt(inFlight.id))
            self.inFlight = nil
            earlyNotices = []
        }
        if recovery != nil {
            actions += [.cancelTimer(.deadline), .cancelTimer(.retry), .cancelTimer(.fastWindow)]
        }
        if expiryArmed {
            actions.append(.cancelTimer(.credentialsExpiry))
            expiryArmed = false
        }
        recovery = nil
        return actions
    }

    /// This process stops running the session without ending it: its ownership moved
    /// (another instance adopted it, this one fenced itself, or handed it over). The
    /// current socket closes — after a leave when `leaving` names a reason — and nothing
    /// is recorded: the session lives on with its new owner, who writes its history.
    /// Absorbs everything after, like an end.
    public mutating func relinquished(leaving reason: String?) -> [Action] {
        guard !state.isTerminal else { return [] }
        let actions = closeCurrent(leaving: reason) + stopWork()
        state = .left
        endReason = .left(reason: "relinquished")
        return actions + [.setState(.left)]
    }

    /// Closes the current generation unless it already is, leaving first when asked.
    mutating func closeCurrent(leaving reason: String? = nil) -> [Action] {
        guard !generationClosed else { return [] }
        generationClosed = true
        return [.close(generation, leaving: reason.map { .leave(sessionID: sfuSessionID ?? "", reason: $0) })]
    }

    /// Records `event` (credential changes and other facts with no decision attached)
    /// while the session lives.
    func note(_ event: SessionEventKind) -> [Action] {
        state.isTerminal ? [] : [.emit(event)]
    }
}
