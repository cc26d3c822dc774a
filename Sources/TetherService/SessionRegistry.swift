import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import TetherEngine
import TetherEventLog
import TetherEvents

/// Every session this process runs: create, find, delete, and on start-up resume the
/// sessions a crash left live; on graceful shutdown make them all leave.
public actor SessionRegistry: Service {
    let configuration: ServiceConfiguration
    let log: EventLog
    let metrics: TetherMetrics
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    /// One cap for every session's reconnect attempts: an SFU restart must not stampede.
    let limiter: ReconnectLimiter
    /// One memory of which nodes restarted: a few sessions' refused resumes spare every
    /// other session of that node a pointless FAST.
    let restartWatch: NodeRestartWatch
    /// `--allow-sfu-host`, checked on resolved addresses at create, at resume and at
    /// every dial.
    let addressResolver: SFUAddressResolver
    /// The CAs `wss://` SFUs are verified against (`--sfu-ca-file`).
    let tls: TLSTrust
    /// Read without a hop onto this actor; changed only by it.
    nonisolated let live = LiveSessions()
    /// Keys of creates: held from the first request, remembered with the session.
    let idempotencyKeys: IdempotencyKeys
    /// `--credentials-url`, when configured.
    let credentials: CredentialsClient?
    /// Destroys the sessions left behind on nodes a session moved away from.
    let janitor: StaleSessionJanitor
    /// The fleet this instance belongs to (PostgreSQL store); nil on SQLite.
    let fleet: FleetContext?
    /// Whether this fleet instance holds a valid lease and may act as an agent.
    var fleetServing = false
    /// Whether this instance has held a lease since it started.
    var fleetStarted = false
    var servingWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    var servingWaiterCount = 0

    init(
        configuration: ServiceConfiguration, addressPolicy: SFUAddressPolicy, tls: TLSTrust = .system, log: EventLog, metrics: TetherMetrics,
        eventLoopGroup: any EventLoopGroup, fleet: FleetContext? = nil, logger: Logger = Logger(label: "tether.sessions")
    ) {
        self.fleet = fleet
        self.configuration = configuration
        self.addressResolver = SFUAddressResolver(policy: addressPolicy)
        self.tls = tls
        self.idempotencyKeys = IdempotencyKeys(log: log, ttl: configuration.idempotencyKeyTTL)
        self.log = log
        self.metrics = metrics
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.limiter = ReconnectLimiter(maxInFlight: configuration.maxReconnectsInFlight, perSecond: configuration.maxReconnectsPerSecond)
        self.restartWatch = NodeRestartWatch(configuration: configuration.nodeRestart, logger: logger)
        // validate() checked that a credentials URL comes with a secret that parses.
        self.credentials = configuration.credentialsURL.flatMap { url in
            configuration.credentialsSecret.flatMap { try? WebhookSecret(parsing: $0) }.map {
                CredentialsClient(url: url, secret: $0, concurrency: configuration.credentialsConcurrency)
            }
        }
        self.janitor = StaleSessionJanitor(logger: logger)
    }

    // MARK: - Service

    /// Sessions loaded by ``prepare()`` whose rejoin ``run()`` starts.
    private var toResume: [(runner: SessionRunner, record: SessionRecord, urls: [String], policy: ReconnectPolicy)] = []
    private var prepared = false

    public func run() async throws {
        await prepare()
        await resumePreparedSessions()
        try? await gracefulShutdown()
        await leaveAll(reason: "shutdown")
        try? await log.flush(within: .seconds(5))
    }

    /// Puts every session the previous process left live into the registry, each with
    /// its runner (nothing is dialed yet), so that once the port is bound any request
    /// about any session finds it. Sessions that cannot be resumed end here, recorded:
    /// a `connecting` row (its create was never answered: the client will retry) fails
    /// with `interrupted_by_restart` and gives its Idempotency-Key back; an unreadable
    /// row fails with `unreadable_row`. Idempotent.
    public func prepare() async {
        guard !prepared else { return }
        prepared = true
        // A fleet instance resumes nothing by itself: registering releases what its id
        // owned, and it claims sessions like any other instance (FleetMember).
        guard fleet == nil else { return }
        let records: [SessionRecord]
        do {
            records = try await log.store.liveSessions()
        } catch {
            logger.error("cannot read live sessions to resume", metadata: ["error": "\(error)"])
            return
        }
        for record in records {
            if record.state == SessionState.connecting.rawValue {
                end(record, .joinFailed(
                    code: "interrupted_by_restart",
                    message: "Tether restarted before this session's create was answered; it was not redialed"))
                continue
            }
            guard let (runner, urls, policy) = runnable(record) else { continue }
            toResume.append((runner, record, urls, policy))
        }
    }

    /// Puts a stored live session in the registry with its runner (nothing dialed), or
    /// ends it as `unreadable_row` when its row cannot be run.
    func runnable(_ record: SessionRecord) -> (runner: SessionRunner, urls: [String], policy: ReconnectPolicy)? {
        let urls: [String]
        let policy: PolicyDocument
        let dialect: any SignalingDialect
        do {
            urls = try JSONDecoder().decode([String].self, from: Data(record.sfuURLs.utf8))
            policy = try JSONDecoder().decode(PolicyDocument.self, from: Data(record.policy.utf8))
            guard !urls.isEmpty, let known = Self.dialect(named: record.dialect, options: record.dialectOptions, sessionID: record.id) else {
                throw UnreadableRow(detail: urls.isEmpty ? "no SFU URL" : "unknown dialect '\(record.dialect)' or its options")
            }
            dialect = known
        } catch {
            logger.error("cannot resume session: unreadable row", metadata: ["session_id": "\(record.id)", "error": "\(error)"])
            end(record, .reconnectFailed(reason: "unreadable_row"))
            return nil
        }
        let session = LiveSession(record: record)
        let runner = makeRunner(
            for: session, urls: urls, token: record.sfuToken, policy: policy.policy, dialect: dialect,
            firstGeneration: UInt64(max(0, record.generation)))
        live[record.id] = session
        metrics.sessionMoved(from: nil, to: record.state)
        return (runner, urls, policy.policy)
    }

    /// Ends a row this process will not run, with its reason recorded.
    func end(_ record: SessionRecord, _ end: EndReason) {
        var ended = record
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        ended.end(end, atMs: now)
        // The client never got an answer for an interrupted create: its retry with
        // the same key must create a session, not replay this one.
        if end.joinFailureCode == "interrupted_by_restart" { ended.idempotencyKey = nil }
        log.commit(
            [SessionEvent(sessionID: record.id, timeMs: now, generation: UInt64(max(0, record.generation)), kind: end.event())],
            row: ended, retiresSecrets: true)
    }

    /// Starts the rejoin of every prepared session, in the background of the reconnect
    /// limiter; readiness never waits for an SFU.
    private func resumePreparedSessions() async {
        let sessions = toResume
        toResume = []
        let resolver = addressResolver
        let logger = self.logger
        // Side by side: one name that does not resolve must not hold up the others
        // (lookups run on their own bounded pool).
        await withTaskGroup(of: Void.self) { group in
            for (runner, record, urls, policy) in sessions {
                group.addTask {
                    await Self.resume(runner, record: record, urls: urls, policy: policy, origin: .restart, resolver: resolver, logger: logger)
                }
            }
        }
        if !sessions.isEmpty { logger.notice("resumed \(sessions.count) session(s) left live by the previous process") }
    }

    /// Rejoins one session this process did not start (its own restart, or another
    /// instance's), unless its SFU address is no longer allowed.
    static func resume(
        _ runner: SessionRunner, record: SessionRecord, urls: [String], policy: ReconnectPolicy, origin: ResumeOrigin,
        resolver: SFUAddressResolver, logger: Logger
    ) async {
        let counters = record.counters
        // The allowed list may have narrowed since the session was created. Only a
        // refusal ends the session; a name that does not resolve right now is the
        // dial's problem (it retries under the deadline, checking again).
        if let refusal = await addressRefusal(urls, resolver: resolver, timeout: policy.connectTimeout),
           refusal.code == ConnectFailure.Kind.addressNotAllowed.rawValue {
            logger.warning("not resuming session: \(refusal.message)", metadata: ["session_id": "\(record.id)"])
            await runner.refuseResume(sfuSessionID: record.sfuSessionID, sfuURL: record.sfuURL, reason: refusal.code, counters: counters)
            return
        }
        await runner.resumeAfterRestart(
            sfuSessionID: record.sfuSessionID, resumeState: record.resumeState, sfuURL: record.sfuURL, counters: counters, origin: origin)
    }

    func leaveAll(reason: String) async {
        let runners = live.all.compactMap(\.runner)
        await withTaskGroup(of: Void.self) { group in
            for runner in runners { group.addTask { await runner.leave(reason: reason) } }
        }
    }

    // MARK: - Sessions

    /// Resolves and checks every URL of a new session before anything is dialed.
    func checkAddresses(of request: CreateSessionRequest) async throws(APIError) {
        if let refusal = await addressRefusal(request.sfuURLs, timeout: request.policy.connectTimeout) {
            throw APIError.invalid("sfu.urls: \(refusal.message)", code: refusal.code)
        }
    }

    /// The first URL of `urls` the address policy refuses (or that does not resolve), if any.
    private func addressRefusal(_ urls: [String], timeout: Duration) async -> (code: String, message: String)? {
        await Self.addressRefusal(urls, resolver: addressResolver, timeout: timeout)
    }

    static func addressRefusal(
        _ urls: [String], resolver: SFUAddressResolver, timeout: Duration
    ) async -> (code: String, message: String)? {
        for url in urls {
            do {
                _ = try await resolver.addresses(for: try SignalingURL(url), timeout: timeout)
            } catch let failure as ConnectFailure {
                let code = failure.kind == .addressNotAllowed ? failure.kind.rawValue : "sfu_address_unresolvable"
                return (code, "\(url): \(failure.message)")
            } catch {
                return ("invalid_sfu_url", "\(url): \(error)")
            }
        }
        return nil
    }

    /// Creates and joins; answers once joined. The same Idempotency-Key returns the
    /// same session, waiting for its join if it is still in flight.
    func create(_ request: CreateSessionRequest) async throws(APIError) -> SessionRecord {
        // Never put an agent into a call that could not be recorded.
        if log.isFailing, let failure = log.health.failure {
            throw APIError.storageUnavailable("the history cannot be written (\(failure)); no session was created")
        }
        guard let key = request.idempotencyKey else {
            return try await performCreate(request).get()
        }
        return try await idempotencyKeys.run(key: key, fingerprint: request.fingerprint) {
            await self.performCreate(request)
        }
    }

    private func performCreate(_ request: CreateSessionRequest) async -> Result<SessionRecord, APIError> {
        let id = UUID().uuidString.lowercased()
        var record: SessionRecord
        do {
            record = try SessionRecord(creating: request, id: id, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        } catch {
            return .failure(.invalid("the session could not be stored: \(error)", code: "validation_failed"))
        }
        guard let dialect = Self.dialect(named: request.dialect, options: record.dialectOptions, sessionID: id) else {
            return .failure(.invalid("unknown dialect '\(request.dialect)'", code: "unknown_dialect"))
        }
        if let fleet {
            await awaitFirstLease(upTo: Self.fleetAnswerBound / 2)
            // No lease (fenced, rejoining) or no room: an instance with room runs it.
            guard fleetServing, live.count < fleet.capacity else { return await placeElsewhere(record, policy: request.policy) }
            record.ownerInstance = fleet.instanceID
            record.epoch = 1
        }
        let session = LiveSession(record: record)
        live[record.id] = session
        log.save(record)
        metrics.sessionMoved(from: nil, to: record.state)
        let runner = makeRunner(for: session, urls: request.sfuURLs, token: request.token, policy: request.policy, dialect: dialect)
        let outcome: Result<SessionRecord, APIError>
        do {
            try await runner.start()
            outcome = .success(session.currentRecord)
        } catch let error as SessionJoinError {
            outcome = .failure(Self.joinFailure(code: error.code, message: error.message, sessionID: record.id))
        } catch {
            outcome = .failure(Self.joinFailure(code: "connect_failed", message: "\(error)", sessionID: record.id))
        }
        do {
            try await log.flush()
        } catch {
            return .failure(.storageUnavailable("the session \(record.id) joined but its history could not be committed (\(error))"))
        }
        return outcome
    }

    static func joinFailure(code: String, message: String, sessionID: String) -> APIError {
        let timedOut = ["connect_timeout", "upgrade_timeout", "join_timeout"].contains(code)
        return APIError(
            timedOut ? .gatewayTimeout : .badGateway, code: "join_failed",
            message: "the SFU join failed: \(code): \(message)", sfuCode: code, sessionID: sessionID)
    }

    /// The session's row (fresh for a live one) and its current attempt; nil when unknown.
    nonisolated func session(id: String) async throws -> (record: SessionRecord, currentAttempt: Int)? {
        try await log.flush()
        if let session = live[id] {
            return (session.currentRecord, session.runner?.currentAttempt ?? 0)
        }
        guard let record = try await log.store.session(id: id) else { return nil }
        return (record, 0)
    }

    /// `GET /v1/sessions/{id}`'s body: a live session's from its cache, any other's
    /// encoded from its row. Nil when no such session exists.
    nonisolated func sessionBody(id: String) async throws -> ByteBuffer? {
        try await log.flush()
        if let session = live[id] {
            return try session.responseBody(currentAttempt: session.runner?.currentAttempt ?? 0)
        }
        guard let record = try await log.store.session(id: id) else { return nil }
        return try SessionBody.encode(record, currentAttempt: 0)
    }

    /// Leaves cleanly; false when no such session ever existed. With storage failing it
    /// refuses (503) before leaving, so a leave that could not be recorded never happens.
    func delete(id: String) async throws -> Bool {
        if let failure = log.health.failure {
            throw APIError.storageUnavailable("the history cannot be written (\(failure)); the session was not touched")
        }
        if let session = live[id], let runner = session.runner {
            await runner.leave(reason: "requested")
            try await log.flush()
            return true
        }
        if let fleet { return try await deleteInFleet(id, fleet: fleet) }
        try await log.flush()
        guard let record = try await log.store.session(id: id) else { return false }
        if record.isLive {
            // Live in the database but run by no one (this process owns the database,
            // so no other process runs it either): record the leave the client asked for.
            end(record, .left(reason: "requested"))
            try await log.flush()
        }
        return true
    }

    /// Replaces a live session's token (and node list) for its next join.
    func updateCredentials(id: String, token: String, urls: [String]?) async throws -> SessionRecord {
        guard let session = live[id], let runner = session.runner, session.currentRecord.isLive else {
            if let fleet {
                var body: [String: Any] = ["token": token]
                if let urls { body["urls"] = urls }
                return try await forward(.credentials, id, body: body, fleet: fleet)
            }
            try await log.flush()
            guard try await log.store.session(id: id) != nil else { throw APIError.notFound(session: id) }
            throw APIError(.conflict, code: "session_not_live", message: "session '\(id)' has ended; its credentials cannot change")
        }
        if let urls, let refusal = await addressRefusal(urls, timeout: runner.configuration.policy.connectTimeout) {
            throw APIError.invalid("urls: \(refusal.message)", code: refusal.code)
        }
        await runner.updateCredentials(token: token, urls: urls)
        try await log.flush()
        return session.currentRecord
    }

    /// Starts a MIGRATE of one live session to `targetURL` (or its next node). The
    /// session's machine checks the target against the nodes it will act on.
    func migrate(id: String, to targetURL: String?) async throws -> SessionRecord {
        guard let session = live[id], let runner = session.runner else {
            if let fleet { return try await forward(.migrate, id, body: targetURL.map { ["to": $0] } ?? [:], fleet: fleet) }
            try await log.flush()
            guard try await log.store.session(id: id) != nil else { throw APIError.notFound(session: id) }
            throw Self.notLive(id)
        }
        if case .refused(let code, let message) = await runner.migrate(to: targetURL) {
            throw code == "session_not_live" ? Self.notLive(id) : APIError.invalid(message, code: code)
        }
        try await log.flush()
        return session.currentRecord
    }

    static func notLive(_ id: String) -> APIError {
        APIError(.conflict, code: "session_not_live", message: "session '\(id)' has ended; only a live session can move")
    }

    /// Starts a MIGRATE of every live session on `sfuURL`; returns moved and skipped ids.
    func drain(sfuURL: String, to targetURL: String?) async throws -> (moved: [String], skipped: [String]) {
        var moved: [String] = []
        var skipped: [String] = []
        for session in live.all.sorted(by: { $0.id < $1.id }) {
            guard let runner = session.runner else { continue }
            switch await runner.migrate(to: targetURL == sfuURL ? nil : targetURL, onlyFrom: sfuURL) {
            case .started, .merged:
                moved.append(session.id)
            case .refused(let code, _) where code == "not_on_node" || code == "session_not_live":
                continue
            case .refused:
                skipped.append(session.id)
            }
        }
        try await log.flush()
        return (moved, skipped)
    }

    nonisolated func currentAttempts(for ids: [String]) -> [String: Int] {
        var attempts: [String: Int] = [:]
        for id in ids {
            if let runner = live[id]?.runner { attempts[id] = runner.currentAttempt }
        }
        return attempts
    }

    func retire(_ id: String) {
        live[id] = nil
    }

    // MARK: - Wiring a runner

    func makeRunner(
        for session: LiveSession, urls: [String], token: String, policy: ReconnectPolicy, dialect: any SignalingDialect,
        firstGeneration: UInt64 = 0
    ) -> SessionRunner {
        let record = session.currentRecord
        let log = self.log
        let metrics = self.metrics
        let runner = SessionRunner(
            configuration: SessionConfiguration(
                id: record.id, callID: record.callID, userID: record.userID, token: token, sfuURLs: urls, policy: policy),
            dialect: dialect,
            eventLoopGroup: eventLoopGroup,
            addressPolicy: addressResolver.policy,
            firstGeneration: firstGeneration,
            tls: tls,
            logger: logger,
            limiter: limiter,
            restartWatch: restartWatch,
            credentialsSource: credentials?.source(
                sessionID: record.id, callID: record.callID, userID: record.userID, metadata: record.metadataDictionary),
            janitor: janitor,
            permit: fleet?.permit
        ) { [weak self] update in
            let (updated, previous) = session.apply(update)
            // The batch's events and the row that says so: one transaction.
            // A replaced token, or the secrets of an ended session, are still in the
            // WAL's older pages: the writer wipes them once this is committed.
            log.commit(update.events, row: updated, retiresSecrets: update.credentials != nil || !updated.isLive)
            for event in update.events { metrics.observe(event) }
            metrics.sessionMoved(from: previous, to: updated.state)
            if update.snapshot?.state.isTerminal == true, let self {
                Task { await self.retire(session.id) }
            }
        }
        session.runner = runner
        return runner
    }

    static func dialect(named name: String, options: String?, sessionID: String) -> (any SignalingDialect)? {
        switch name {
        case "stream":
            return StreamDialect()
        case "janus":
            guard let options = options.flatMap({ try? JSONDecoder().decode(JanusOptions.self, from: Data($0.utf8)) }) else { return nil }
            return options.dialect(sessionID: sessionID)
        default:
            return nil
        }
    }

    struct UnreadableRow: Error, CustomStringConvertible {
        var detail: String
        var description: String { detail }
    }
}
