import Foundation
import Logging
import NIOCore
import TetherEvents

/// Runs one session: executes the ``Reconnector``'s actions against a
/// ``SignalingClient`` and reports every event to `record`. It decides nothing itself.
public actor SessionRunner {
    public nonisolated let configuration: SessionConfiguration
    private let client: SignalingClient
    /// Dials nodes the session has left, to destroy a session it left behind there; its
    /// own client, so it outlives the session's (a ghost outlives the session too).
    private let cleanupClient: SignalingClient?
    private let record: @Sendable (SessionEvent) -> Void
    private let onSnapshot: @Sendable (SessionSnapshot) -> Void
    private var lastReportedSnapshot: SessionSnapshot?
    private let logger: Logger
    private let limiter: ReconnectLimiter?
    private let restartWatch: NodeRestartWatch?
    /// The SFU token for the next join; replaced through the API or `--credentials-url`.
    private var token: String
    private let credentialsSource: CredentialsSource?
    /// Told the new token and nodes whenever they change, to store them (a restart
    /// rejoins with them).
    private let onCredentials: @Sendable (_ token: String, _ nodes: [String]) -> Void
    private var expiryRefresh: Task<Void, Never>?
    /// The `exp` the scheduled refresh is for.
    private var expiryScheduledFor: Date?
    /// Set while a ruled-out FAST hands its limiter place to the REJOIN that replaces it.
    private var handingOverLimiterPlace = false
    private var machine: Reconnector
    private var activeGeneration: UInt64 = 0
    /// Notices from a generation that joined but whose success this actor has not
    /// processed yet; replayed when it becomes active, so no loss is ever dropped.
    private var earlyNotices: [UInt64: [GenerationNotice]] = [:]
    private var timers: [Reconnector.Timer: Task<Void, Never>] = [:]
    private var timerTokens: [Reconnector.Timer: Int] = [:]
    private var attempt: (token: Int, task: Task<Void, Never>)?
    private var attemptTokens = 0
    private var noticeTask: Task<Void, Never>?
    /// The first join, so that a DELETE during it cancels the dial at once.
    private var initialJoin: Task<(generation: UInt64, answer: JoinAnswer), any Error>?
    private var terminalWaiters: [CheckedContinuation<SessionState, Never>] = []
    private var snapshotValue: SessionSnapshot
    /// The generation the last successful attempt replaced (left by `leaveReplaced`).
    private var replacedGeneration: UInt64?

    public init(
        configuration: SessionConfiguration,
        dialect: any SignalingDialect,
        eventLoopGroup: any EventLoopGroup,
        addressPolicy: SFUAddressPolicy? = nil,
        firstGeneration: UInt64 = 0,
        tls: TLSTrust = .system,
        logger: Logger = Logger(label: "tether.session"),
        limiter: ReconnectLimiter? = nil,
        restartWatch: NodeRestartWatch? = nil,
        credentialsSource: CredentialsSource? = nil,
        onCredentials: @escaping @Sendable (_ token: String, _ nodes: [String]) -> Void = { _, _ in },
        onSnapshot: @escaping @Sendable (SessionSnapshot) -> Void = { _ in },
        record: @escaping @Sendable (SessionEvent) -> Void
    ) {
        self.onSnapshot = onSnapshot
        self.limiter = limiter
        self.restartWatch = restartWatch
        self.token = configuration.token
        self.credentialsSource = credentialsSource
        self.onCredentials = onCredentials
        self.configuration = configuration
        self.client = SignalingClient(
            dialect: dialect, policy: configuration.policy, addressPolicy: addressPolicy, eventLoopGroup: eventLoopGroup,
            generationsAfter: firstGeneration, tls: tls)
        self.cleanupClient = dialect.leavesStaleSessions
            ? SignalingClient(dialect: dialect, policy: configuration.policy, addressPolicy: addressPolicy, eventLoopGroup: eventLoopGroup, tls: tls)
            : nil
        // A resumed session's generations continue where the previous process stopped.
        self.activeGeneration = firstGeneration
        self.record = record
        var logger = logger
        logger[metadataKey: "session"] = "\(configuration.id)"
        self.logger = logger
        self.machine = Reconnector(
            policy: configuration.policy, nodes: configuration.sfuURLs, makeBeforeBreak: dialect.supportsMakeBeforeBreak,
            resumesAcrossRestarts: dialect.resumesAcrossRestarts, leavesStaleSessions: dialect.leavesStaleSessions)
        self.snapshotValue = SessionSnapshot(
            state: .connecting, sfuURL: configuration.sfuURLs[0], sfuSessionID: nil, generation: firstGeneration,
            losses: 0, reconnects: 0, failedReconnects: 0, currentAttempt: 0, endReason: nil)
    }

    public var snapshot: SessionSnapshot {
        var value = snapshotValue
        value.currentAttempt = machine.currentAttempt
        return value
    }

    public var state: SessionState { machine.state }

    // MARK: - Commands

    /// Records `session_created` and joins the primary node. Returns once joined;
    /// throws ``SessionJoinError`` (and the session is `failed`) when the join fails.
    public func start() async throws {
        emit(.sessionCreated(callID: configuration.callID, userID: configuration.userID, sfuURL: configuration.sfuURLs[0]))
        noticeTask = Task { [client] in
            for await notice in client.notices { await self.handle(notice) }
        }
        let parameters = JoinParameters(token: token, callID: configuration.callID, userID: configuration.userID)
        scheduleExpiryRefresh()
        do {
            var joined: (generation: UInt64, answer: JoinAnswer)?
            while joined == nil {
                let url = machine.currentNode
                let join = Task { [client] in try await client.connect(to: url, joining: parameters) }
                initialJoin = join
                do {
                    joined = try await join.value
                } catch let refusal as SFUError where refusal.nodeRefusesNewSessions && machine.state == .connecting {
                    // This node takes no new sessions: the next one of the list may.
                    guard let actions = machine.initialNodeRefused(code: refusal.code, message: refusal.message) else { throw refusal }
                    await execute(actions)
                }
            }
            let (generation, answer) = joined!
            initialJoin = nil
            guard machine.state == .connecting else {
                // Left while the join was in flight and it completed anyway: it joined,
                // so it leaves properly rather than vanishing.
                client.close(generation: generation, leaving: .leave(sessionID: answer.sfuSessionID, reason: snapshotValue.endReason ?? "requested"))
                return
            }
            let early = activate(generation)
            await execute(machine.initialJoinSucceeded(
                sfuSessionID: answer.sfuSessionID, fastReconnectWindow: answer.fastReconnectWindow,
                valueProblems: answer.valueProblems))
            for notice in early { await handle(notice) }
        } catch {
            initialJoin = nil
            // Cancelled by a DELETE (or shutdown): the session has ended as asked.
            guard machine.state == .connecting else { return }
            let failure = Self.joinError(from: error)
            await execute(machine.initialJoinFailed(code: failure.code, message: failure.message))
            throw failure
        }
    }

    /// Picks up a session that was live when the process stopped: records
    /// `resumed_after_restart` and rejoins it under the disconnection deadline.
    public func resumeAfterRestart(sfuSessionID: String?, sfuURL: String, counters: (losses: Int, reconnects: Int, failedReconnects: Int)) async {
        snapshotValue.losses = counters.losses
        snapshotValue.reconnects = counters.reconnects
        snapshotValue.failedReconnects = counters.failedReconnects
        noticeTask = Task { [client] in
            for await notice in client.notices { await self.handle(notice) }
        }
        let nodeIndex = machine.nodes.firstIndex(of: sfuURL) ?? 0
        scheduleExpiryRefresh()
        await execute(machine.resumeAfterRestart(sfuSessionID: sfuSessionID, nodeIndex: nodeIndex, now: .now))
    }

    /// Ends a session left live by the previous process without dialing: records
    /// `resumed_after_restart` and `reconnect_failed{reason}`.
    public func refuseResume(sfuSessionID: String?, sfuURL: String, reason: String, counters: (losses: Int, reconnects: Int, failedReconnects: Int)) async {
        snapshotValue.losses = counters.losses
        snapshotValue.reconnects = counters.reconnects
        snapshotValue.failedReconnects = counters.failedReconnects
        let nodeIndex = machine.nodes.firstIndex(of: sfuURL) ?? 0
        await execute(machine.resumeRefused(sfuSessionID: sfuSessionID, nodeIndex: nodeIndex, reason: reason))
    }

    /// Leaves cleanly (leave request, then close 1000) from any state; idempotent.
    public func leave(reason: String = "requested") async {
        await execute(machine.leaveRequested(reason: reason, now: .now))
    }

    /// Moves the session to `nodeIndex` (or the next node) through MIGRATE.
    public func migrate(toNode nodeIndex: Int? = nil) async {
        await execute(machine.migrationRequested(targetNode: nodeIndex, now: .now))
    }

    /// Waits until the session reaches `left`, `failed` or `ended`.
    public func waitUntilFinished() async -> SessionState {
        if machine.state.isTerminal { return machine.state }
        return await withCheckedContinuation { terminalWaiters.append($0) }
    }

    // MARK: - Inputs from the connection, attempts and timers

    func handle(_ notice: GenerationNotice) async {
        if notice.generation > activeGeneration {
            earlyNotices[notice.generation, default: []].append(notice)
            return
        }
        // A report from a socket we already replaced: ignored by design.
        guard notice.generation == activeGeneration else { return }
        let now = ContinuousClock.now
        switch notice.kind {
        case .lost(let reason, let closeCode, let detail, let lastContact):
            await execute(machine.connectionLost(
                reason: reason, closeCode: closeCode, detail: detail, lastContact: lastContact, now: now))
        case .signal(.sfuError(let error)):
            await execute(machine.sfuErrorReceived(error, now: now))
        case .signal(.goAway(let reason)):
            await execute(machine.goAwayReceived(reason: reason, now: now))
        case .signal(.callEnded(let reason)):
            await execute(machine.callEnded(reason: reason, now: now))
        case .signal(.removed(let code, let message)):
            await execute(machine.removedBySFU(code: code, message: message, now: now))
        case .suppressed(let count):
            await execute(machine.note(.sfuErrorsSuppressed(count: count)))
        case .signal(.participantJoined), .signal(.participantLeft), .signal(.healthCheckAnswered),
            .signal(.joinAccepted):
            break
        }
    }

    private func attemptFinished(token: Int, result: Result<(generation: UInt64, answer: JoinAnswer), any Error>) async {
        guard let attempt, attempt.token == token else {
            // The attempt was cancelled, but its join may have completed: close that
            // generation, and only that one; what it reported is forgotten.
            if case .success(let joined) = result {
                client.close(generation: joined.generation)
                earlyNotices[joined.generation] = nil
            }
            return
        }
        self.attempt = nil
        let now = ContinuousClock.now
        switch result {
        case .success(let joined):
            let early = activate(joined.generation)
            await execute(machine.attemptSucceeded(joined.answer, now: now))
            // Whatever the new generation replaced is closed now (a no-op when a
            // `leaveReplaced` or the reconnection's start already closed it).
            if let replaced = replacedGeneration { client.close(generation: replaced) }
            replacedGeneration = nil
            // What the new generation reported before its success was processed, in
            // the order it came, after it.
            for notice in early { await handle(notice) }
        case .failure(let error):
            await execute(machine.attemptFailed(Self.attemptFailure(from: error), unitRandom: Double.random(in: 0..<1), now: now))
        }
    }

    private func timerFired(_ timer: Reconnector.Timer, token: Int) async {
        guard timerTokens[timer] == token else { return }
        timers[timer] = nil
        let now = ContinuousClock.now
        switch timer {
        case .deadline: await execute(machine.deadlineFired(now: now))
        case .retry: await execute(machine.retryTimerFired(now: now))
        case .fastWindow: await execute(machine.fastWindowClosed(now: now))
        }
    }

    // MARK: - Executing actions

    private func execute(_ actions: [Reconnector.Action]) async {
        defer { reportSnapshotIfChanged() }
        for action in actions {
            switch action {
            case .emit(let kind):
                emit(kind)
            case .setState(let state):
                snapshotValue.state = state
                snapshotValue.sfuURL = machine.currentNode
                snapshotValue.sfuSessionID = machine.sfuSessionID
                if state.isTerminal { finish() }
            case .retireConnection:
                client.close(generation: activeGeneration)
            case .retireConnectionLeaving(let reason):
                client.close(generation: activeGeneration, leaving: .leave(sessionID: machine.sfuSessionID ?? "", reason: reason))
            case .leaveReplaced(let sfuSessionID, let reason):
                if let replaced = replacedGeneration {
                    client.close(generation: replaced, leaving: .leave(sessionID: sfuSessionID, reason: reason))
                }
            case .leave(let reason):
                let sessionID = machine.sfuSessionID ?? ""
                await client.closeAndWait(generation: activeGeneration, leaving: .leave(sessionID: sessionID, reason: reason))
            case .startAttempt(let plan):
                startAttempt(plan)
            case .cancelAttempt:
                attempt?.task.cancel()
                attempt = nil
            case .armTimer(let timer, let instant):
                arm(timer, at: instant)
            case .cancelTimer(let timer):
                timers.removeValue(forKey: timer)?.cancel()
                timerTokens[timer, default: 0] += 1
            case .destroyStaleSession(let sfuURL, let sfuSessionID):
                destroyStaleSession(at: sfuURL, sfuSessionID: sfuSessionID)
            }
        }
    }

    /// Tells the owner (the registry, which persists it) what changed, once per batch of actions.
    private func reportSnapshotIfChanged() {
        let current = snapshot
        guard current != lastReportedSnapshot else { return }
        lastReportedSnapshot = current
        onSnapshot(current)
    }

    private func startAttempt(_ plan: Reconnector.AttemptPlan) {
        attemptTokens += 1
        let token = attemptTokens
        let parameters = JoinParameters(
            token: self.token,
            callID: configuration.callID,
            userID: configuration.userID,
            resumeSessionID: plan.resumeSessionID,
            reconnect: .init(
                strategy: plan.strategy,
                attempt: plan.attempt,
                previousSessionID: plan.previousSessionID,
                fromSFU: plan.fromNodeIndex.map { machine.nodes[$0] },
                reason: plan.trigger.rawValue),
            staleSessionID: plan.staleSessionID)
        let url = machine.nodes[plan.nodeIndex]
        let holdsLimiterPlace = handingOverLimiterPlace
        handingOverLimiterPlace = false
        let sessionID = configuration.id
        let task = Task { [client, limiter, restartWatch] in
            let knownRestarted = { plan.strategy == .fast && restartWatch?.shouldSkipFast(node: url) == true }
            if knownRestarted() {
                await self.fastRuledOut(token: token, holdingLimiterPlace: holdsLimiterPlace)
                return
            }
            var parameters = parameters
            // Before taking a place in the reconnect caps: the fetch may take seconds.
            if plan.strategy == .rejoin || plan.strategy == .migrate, let token = await self.refreshedToken(reason: plan.strategy.rawValue) {
                parameters.token = token
            }
            if !holdsLimiterPlace {
                do {
                    // The service-wide cap: a queued attempt that is cancelled (deadline,
                    // leave) simply never starts.
                    try await limiter?.acquire()
                } catch {
                    return
                }
            }
            // The verdict may have come while this attempt queued for its place.
            if knownRestarted() {
                await self.fastRuledOut(token: token, holdingLimiterPlace: true)
                return
            }
            var result = await Self.join(client, url, parameters)
            if case .failure(let refusal as SFUError) = result, refusal.unauthenticated,
               let token = await self.refreshedToken(reason: "unauthenticated") {
                // Refused as unauthenticated: fresh credentials, then this join once more.
                parameters.token = token
                result = await Self.join(client, url, parameters)
            }
            // Before the place goes to the next queued attempt, so that one already
            // sees a verdict this result completes.
            if plan.strategy == .fast, let restartWatch {
                Self.report(resume: result, of: sessionID, at: url, to: restartWatch)
            }
            await limiter?.release()
            await self.attemptFinished(token: token, result: result)
        }
        attempt = (token, task)
    }

    private static func join(
        _ client: SignalingClient, _ url: String, _ parameters: JoinParameters
    ) async -> Result<(generation: UInt64, answer: JoinAnswer), any Error> {
        do {
            return .success(try await client.connect(to: url, joining: parameters))
        } catch {
            return .failure(error)
        }
    }

    /// A FAST attempt found its node known to have restarted before dialing: the machine
    /// turns it into REJOIN, which inherits the limiter place (and start slot) if the
    /// FAST held one, so a storm spends one admission per session, not two.
    private func fastRuledOut(token: Int, holdingLimiterPlace: Bool) async {
        guard let attempt, attempt.token == token else {
            if holdingLimiterPlace { await limiter?.release() }
            return
        }
        self.attempt = nil
        handingOverLimiterPlace = holdingLimiterPlace
        await execute(machine.fastRuledOut(reason: "node_restarted", now: .now))
        if handingOverLimiterPlace {
            // The machine started no attempt (it had ended): give the place back.
            handingOverLimiterPlace = false
            await limiter?.release()
        }
    }

    // MARK: - Credentials

    /// Replaces the token (and the node list) for the next join; recorded, never the token.
    public func updateCredentials(token newToken: String, urls: [String]?) async {
        guard !machine.state.isTerminal else { return }
        token = newToken
        if let urls { await execute(machine.nodesReplaced(urls)) }
        onCredentials(token, machine.nodes)
        await execute(machine.note(.credentialsUpdated(reason: urls == nil ? "token" : "token_and_urls")))
        scheduleExpiryRefresh()
    }

    /// The nodes the session may use, primary first (replaced by ``updateCredentials``).
    public var nodes: [String] { machine.nodes }

    /// Asks `--credentials-url` for fresh credentials and records how it went; the new
    /// token, or nil (no source, or it failed: the join goes on with the old one).
    private func refreshedToken(reason: String) async -> String? {
        guard let credentialsSource, !machine.state.isTerminal else { return nil }
        do {
            let fresh = try await credentialsSource.fetch(reason)
            guard !machine.state.isTerminal else { return nil }
            token = fresh.token
            if let urls = fresh.urls { await execute(machine.nodesReplaced(urls)) }
            onCredentials(token, machine.nodes)
            await execute(machine.note(.credentialsRefreshed(reason: reason)))
            scheduleExpiryRefresh()
            return fresh.token
        } catch is CancellationError {
            // The attempt (or a newer refresh) was cancelled: nothing failed.
            return nil
        } catch {
            await execute(machine.note(.credentialsRefreshFailed(reason: reason, error: "\(error)")))
            return nil
        }
    }

    /// With a credentials source and a token that says when it expires (a JWT's `exp`),
    /// fetch a fresh one shortly before: the next REJOIN must not find it expired.
    private func scheduleExpiryRefresh() {
        guard credentialsSource != nil, let expiresAt = TokenExpiry.expiresAt(token) else { return }
        // Only for a token that lives longer than the one already scheduled for: an
        // endpoint answering an expired or the same token must not start a loop.
        if let scheduled = expiryScheduledFor, expiresAt <= scheduled { return }
        guard let delay = TokenExpiry.refreshDelay(expiresAt: expiresAt, now: Date()) else { return }
        expiryRefresh?.cancel()
        expiryScheduledFor = expiresAt
        expiryRefresh = Task {
            do { try await Task.sleep(for: delay) } catch { return }
            _ = await self.refreshedToken(reason: "expiring")
        }
    }

    /// Tells the service-wide restart watch how a FAST resume went.
    private static func report(
        resume result: Result<(generation: UInt64, answer: JoinAnswer), any Error>, of session: String, at node: String,
        to restartWatch: NodeRestartWatch
    ) {
        switch result {
        case .success(let joined) where joined.answer.reconnected:
            restartWatch.fastSucceeded(node: node)
        case .success:
            // Joined, but as a new session: the node did not know ours.
            restartWatch.fastRefused(node: node, session: session)
        case .failure(let error as SFUError) where error.sessionUnknown:
            restartWatch.fastRefused(node: node, session: session)
        case .failure:
            break
        }
    }

    /// How long a node the session left is retried for a cleanup: past this, the SFU has
    /// expired the session itself (Janus: `session_timeout`, 60 s by default).
    static let staleCleanupLimit: Duration = .seconds(300)

    /// Dials the node until it answers and destroys the session left there, with
    /// backoff from 1 s to 15 s, then records it.
    private func destroyStaleSession(at url: String, sfuSessionID: String) {
        guard let cleanupClient else { return }
        let parameters = JoinParameters(
            token: token, callID: configuration.callID, userID: configuration.userID,
            staleSessionID: sfuSessionID, cleanupOnly: true)
        let logger = self.logger
        // Not kept or cancelled with the session: the ghost outlives it, so does this.
        Task {
            let giveUpAt = ContinuousClock.now + Self.staleCleanupLimit
            var delay = Duration.seconds(1)
            while !Task.isCancelled, ContinuousClock.now < giveUpAt {
                do {
                    let done = try await cleanupClient.connect(to: url, joining: parameters)
                    cleanupClient.close(generation: done.generation)
                    await self.staleSessionCleaned(at: url, sfuSessionID: sfuSessionID, found: done.answer.staleSessionDestroyed != nil)
                    return
                } catch {
                    logger.debug("stale session cleanup failed; retrying", metadata: ["sfu_url": "\(url)", "error": "\(error)"])
                }
                do { try await Task.sleep(for: delay) } catch { return }
                delay = min(delay * 2, .seconds(15))
            }
            logger.warning("gave up destroying a stale SFU session", metadata: ["sfu_url": "\(url)", "sfu_session_id": "\(sfuSessionID)"])
        }
    }

    private func staleSessionCleaned(at url: String, sfuSessionID: String, found: Bool) async {
        // Gone already (expired meanwhile) is not worth a history entry.
        guard found else { return }
        await execute(machine.staleSessionDestroyed(sfuURL: url, sfuSessionID: sfuSessionID))
    }

    /// A year: longer than any deadline, window or backoff a valid policy allows.
    static let longestTimerSeconds: Int64 = 366 * 86_400

    private func arm(_ timer: Reconnector.Timer, at instant: ContinuousClock.Instant) {
        timers.removeValue(forKey: timer)?.cancel()
        timerTokens[timer, default: 0] += 1
        let token = timerTokens[timer]!
        // The machine bounds what it arms; this bounds what it might arm wrongly: an
        // instant past Int64 nanoseconds traps inside Task.sleep and ends the process.
        let instant = min(instant, ContinuousClock.now + .seconds(Self.longestTimerSeconds))
        timers[timer] = Task {
            try? await Task.sleep(until: instant, clock: .continuous)
            guard !Task.isCancelled else { return }
            await self.timerFired(timer, token: token)
        }
    }

    /// Makes `generation` the session's current one; returns what it reported before
    /// this (to be handled, in order, once its success is processed). The previous
    /// generation, if still open, is closed: it has been replaced.
    private func activate(_ generation: UInt64) -> [GenerationNotice] {
        replacedGeneration = activeGeneration != generation ? activeGeneration : nil
        activeGeneration = generation
        snapshotValue.generation = generation
        let early = earlyNotices.removeValue(forKey: generation) ?? []
        earlyNotices = earlyNotices.filter { $0.key > generation }
        return early
    }

    private func emit(_ kind: SessionEventKind) {
        switch kind {
        case .connectionLost: snapshotValue.losses += 1
        case .reconnected: snapshotValue.reconnects += 1
        case .reconnectFailed: snapshotValue.failedReconnects += 1
        case .left(let reason), .callEnded(let reason): snapshotValue.endReason = reason
        case .joinFailed(let code, _): snapshotValue.endReason = "join_failed: \(code)"
        default: break
        }
        if case .reconnectFailed(let reason, _, _) = kind { snapshotValue.endReason = reason }
        let event = SessionEvent(
            sessionID: configuration.id,
            timeMs: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)),
            generation: activeGeneration,
            kind: kind)
        logger.debug("event", metadata: ["type": "\(event.type)"])
        record(event)
    }

    private func finish() {
        expiryRefresh?.cancel()
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
        attempt?.task.cancel()
        attempt = nil
        initialJoin?.cancel()
        client.finish()
        noticeTask?.cancel()
        let waiters = terminalWaiters
        terminalWaiters.removeAll()
        for waiter in waiters { waiter.resume(returning: machine.state) }
    }

    // MARK: - Error mapping

    static func joinError(from error: any Error) -> SessionJoinError {
        switch error {
        case let sfu as SFUError:
            SessionJoinError(code: sfu.code, message: sfu.message, rejectedBySFU: true)
        case let connect as ConnectFailure:
            SessionJoinError(code: connect.kind.rawValue, message: connect.message, rejectedBySFU: false)
        default:
            SessionJoinError(code: "connect_failed", message: "\(error)", rejectedBySFU: false)
        }
    }

    static func attemptFailure(from error: any Error) -> Reconnector.AttemptFailure {
        switch error {
        case let sfu as SFUError:
            .init(step: .join, message: sfu.description, sfuStrategy: sfu.strategy, nodeRefused: sfu.nodeRefusesNewSessions)
        case let connect as ConnectFailure:
            .init(step: connect.isConnectStep ? .connect : .join, message: connect.description)
        default:
            .init(step: .connect, message: "\(error)")
        }
    }
}
