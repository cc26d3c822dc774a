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
    /// `--allow-sfu-host`, checked on resolved addresses at create, at resume and at
    /// every dial.
    let addressResolver: SFUAddressResolver
    private var live: [String: LiveSession] = [:]
    private var creating: [String: Task<Result<SessionRecord, APIError>, Never>] = [:]

    public init(
        configuration: ServiceConfiguration, addressPolicy: SFUAddressPolicy, log: EventLog, metrics: TetherMetrics,
        eventLoopGroup: any EventLoopGroup, logger: Logger = Logger(label: "tether.sessions")
    ) {
        self.configuration = configuration
        self.addressResolver = SFUAddressResolver(policy: addressPolicy)
        self.log = log
        self.metrics = metrics
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.limiter = ReconnectLimiter(maxInFlight: configuration.maxReconnectsInFlight, perSecond: configuration.maxReconnectsPerSecond)
    }

    // MARK: - Service

    public func run() async throws {
        await resumeLiveSessions()
        try? await gracefulShutdown()
        await leaveAll(reason: "shutdown")
        await log.flush()
    }

    /// Picks up the sessions that were live when the process last stopped.
    func resumeLiveSessions() async {
        let records: [SessionRecord]
        do {
            records = try log.store.liveSessions()
        } catch {
            logger.error("cannot read live sessions to resume", metadata: ["error": "\(error)"])
            return
        }
        for record in records {
            guard let urls = try? JSONDecoder().decode([String].self, from: Data(record.sfuURLs.utf8)),
                  let policy = try? JSONDecoder().decode(PolicyDocument.self, from: Data(record.policy.utf8)),
                  !urls.isEmpty, let dialect = Self.dialect(named: record.dialect, options: record.dialectOptions)
            else {
                logger.error("cannot resume session: unreadable row", metadata: ["session": "\(record.id)"])
                continue
            }
            let session = LiveSession(record: record)
            let runner = makeRunner(for: session, urls: urls, token: record.sfuToken, policy: policy.policy, dialect: dialect)
            live[record.id] = session
            metrics.sessionMoved(from: nil, to: record.state)
            let counters = (record.losses, record.reconnects, record.failedReconnects)
            // The allowed list may have narrowed since the session was created.
            if let refusal = await addressRefusal(urls, timeout: policy.policy.connectTimeout) {
                logger.warning("not resuming session: \(refusal.message)", metadata: ["session": "\(record.id)"])
                await runner.refuseResume(
                    sfuSessionID: record.sfuSessionID, sfuURL: record.sfuURL, reason: refusal.code, counters: counters)
                continue
            }
            await runner.resumeAfterRestart(sfuSessionID: record.sfuSessionID, sfuURL: record.sfuURL, counters: counters)
        }
        if !records.isEmpty { logger.notice("resumed \(records.count) session(s) left live by the previous process") }
    }

    func leaveAll(reason: String) async {
        let runners = live.values.compactMap(\.runner)
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

    /// The first URL of `urls` the address policy refuses (or cannot resolve), if any.
    private func addressRefusal(_ urls: [String], timeout: Duration) async -> (code: String, message: String)? {
        for url in urls {
            do {
                _ = try await addressResolver.addresses(for: try SignalingURL(url), timeout: timeout)
            } catch let failure as ConnectFailure {
                return (ConnectFailure.Kind.addressNotAllowed.rawValue, "\(url): \(failure.message)")
            } catch {
                return (ConnectFailure.Kind.addressNotAllowed.rawValue, "\(url): \(error)")
            }
        }
        return nil
    }

    /// Creates and joins; answers once joined. The same Idempotency-Key returns the
    /// same session, waiting for its join if it is still in flight.
    func create(_ request: CreateSessionRequest) async throws(APIError) -> SessionRecord {
        guard let key = request.idempotencyKey else {
            return try await performCreate(request).get()
        }
        if let task = creating[key] {
            return try await task.value.get()
        }
        if let existing = try? log.store.session(idempotencyKey: key) {
            guard existing.requestFingerprint == request.fingerprint else {
                throw APIError.invalid("Idempotency-Key '\(key)' was used for a different request", code: "idempotency_key_reused")
            }
            if existing.state == SessionState.failed.rawValue, existing.endReason?.hasPrefix("join_failed") == true {
                throw Self.joinFailure(code: String(existing.endReason!.dropFirst("join_failed: ".count)),
                                       message: "the join of this session failed", sessionID: existing.id)
            }
            return existing
        }
        let task = Task { await self.performCreate(request) }
        creating[key] = task
        let result = await task.value
        creating[key] = nil
        return try result.get()
    }

    private func performCreate(_ request: CreateSessionRequest) async -> Result<SessionRecord, APIError> {
        let options = request.janus.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
        guard let dialect = Self.dialect(named: request.dialect, options: options) else {
            return .failure(.invalid("unknown dialect '\(request.dialect)'", code: "unknown_dialect"))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let record = SessionRecord(
            id: UUID().uuidString.lowercased(),
            state: SessionState.connecting.rawValue,
            callID: request.callID, userID: request.userID, dialect: request.dialect,
            sfuURLs: String(decoding: (try? encoder.encode(request.sfuURLs)) ?? Data("[]".utf8), as: UTF8.self),
            sfuToken: request.token, dialectOptions: options,
            policy: String(decoding: (try? encoder.encode(PolicyDocument(request.policy))) ?? Data("{}".utf8), as: UTF8.self),
            metadata: String(decoding: (try? encoder.encode(request.metadata)) ?? Data("{}".utf8), as: UTF8.self),
            sfuURL: request.sfuURLs[0],
            idempotencyKey: request.idempotencyKey, requestFingerprint: request.idempotencyKey == nil ? nil : request.fingerprint,
            createdAtMs: now)
        let session = LiveSession(record: record)
        live[record.id] = session
        log.save(record)
        metrics.sessionMoved(from: nil, to: record.state)
        let runner = makeRunner(for: session, urls: request.sfuURLs, token: request.token, policy: request.policy, dialect: dialect)
        do {
            try await runner.start()
            await log.flush()
            return .success(session.currentRecord)
        } catch let error as SessionJoinError {
            await log.flush()
            return .failure(Self.joinFailure(code: error.code, message: error.message, sessionID: record.id))
        } catch {
            await log.flush()
            return .failure(Self.joinFailure(code: "connect_failed", message: "\(error)", sessionID: record.id))
        }
    }

    static func joinFailure(code: String, message: String, sessionID: String) -> APIError {
        let timedOut = ["connect_timeout", "upgrade_timeout", "join_timeout"].contains(code)
        return APIError(
            timedOut ? .gatewayTimeout : .badGateway, code: "join_failed",
            message: "the SFU join failed: \(code): \(message)", sfuCode: code, sessionID: sessionID)
    }

    /// The session's row (fresh for a live one) and its current attempt; nil when unknown.
    func session(id: String) async throws -> (record: SessionRecord, currentAttempt: Int)? {
        await log.flush()
        if let session = live[id] {
            let attempt = await session.runner?.snapshot.currentAttempt ?? 0
            return (session.currentRecord, attempt)
        }
        guard let record = try log.store.session(id: id) else { return nil }
        return (record, 0)
    }

    /// Leaves cleanly; false when no such session ever existed.
    func delete(id: String) async throws -> Bool {
        if let session = live[id], let runner = session.runner {
            await runner.leave(reason: "requested")
            await log.flush()
            return true
        }
        await log.flush()
        return try log.store.session(id: id) != nil
    }

    /// Starts a MIGRATE of one live session to `targetURL` (or its next node).
    func migrate(id: String, to targetURL: String?) async throws -> SessionRecord {
        guard let session = live[id], let runner = session.runner else {
            await log.flush()
            guard try log.store.session(id: id) != nil else { throw APIError.notFound(session: id) }
            throw APIError(.conflict, code: "session_not_live", message: "session '\(id)' has ended; only a live session can move")
        }
        let urls = runner.configuration.sfuURLs
        var target: Int?
        if let targetURL {
            guard let index = urls.firstIndex(of: targetURL) else {
                throw APIError.invalid("target_url '\(targetURL)' is not one of the session's sfu_urls \(urls)", code: "unknown_target")
            }
            guard targetURL != session.currentRecord.sfuURL else {
                throw APIError.invalid("the session is already on \(targetURL)", code: "already_there")
            }
            target = index
        } else if urls.count < 2 {
            throw APIError.invalid("the session has a single SFU URL; there is nowhere to move it", code: "no_other_node")
        }
        await runner.migrate(toNode: target)
        await log.flush()
        return session.currentRecord
    }

    /// Starts a MIGRATE of every live session on `sfuURL`; returns moved and skipped ids.
    func drain(sfuURL: String, to targetURL: String?) async -> (moved: [String], skipped: [String]) {
        var moved: [String] = []
        var skipped: [String] = []
        for session in live.values.sorted(by: { $0.id < $1.id }) {
            let record = session.currentRecord
            guard record.sfuURL == sfuURL, record.isLive, let runner = session.runner else { continue }
            let urls = runner.configuration.sfuURLs
            var target: Int?
            if let targetURL {
                guard let index = urls.firstIndex(of: targetURL), targetURL != sfuURL else {
                    skipped.append(record.id)
                    continue
                }
                target = index
            } else if urls.count < 2 {
                skipped.append(record.id)
                continue
            }
            await runner.migrate(toNode: target)
            moved.append(record.id)
        }
        await log.flush()
        return (moved, skipped)
    }

    func currentAttempts(for ids: [String]) async -> [String: Int] {
        var attempts: [String: Int] = [:]
        for id in ids {
            if let runner = live[id]?.runner { attempts[id] = await runner.snapshot.currentAttempt }
        }
        return attempts
    }

    private func retire(_ id: String) {
        live[id] = nil
    }

    // MARK: - Wiring a runner

    private func makeRunner(
        for session: LiveSession, urls: [String], token: String, policy: ReconnectPolicy, dialect: any SignalingDialect
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
            logger: logger,
            limiter: limiter,
            onSnapshot: { [weak self] snapshot in
                let (updated, previous) = session.apply(snapshot)
                log.save(updated)
                metrics.sessionMoved(from: previous, to: updated.state)
                if snapshot.state.isTerminal, let self {
                    Task { await self.retire(session.id) }
                }
            },
            record: { event in
                log.append(event)
                metrics.observe(event)
            })
        session.runner = runner
        return runner
    }

    static func dialect(named name: String, options: String?) -> (any SignalingDialect)? {
        switch name {
        case "stream":
            return StreamDialect()
        case "janus":
            guard let options = options.flatMap({ try? JSONDecoder().decode(JanusOptions.self, from: Data($0.utf8)) }) else { return nil }
            return JanusDialect(room: options.room, display: options.display, createRoom: options.createRoom)
        default:
            return nil
        }
    }
}
