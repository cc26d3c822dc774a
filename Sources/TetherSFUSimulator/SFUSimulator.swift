import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import StreamSFUProtocol

/// A `stream`-dialect SFU on real sockets: joins, FAST resumes, health checks, call
/// membership, and fault controls over a small HTTP admin surface on the same port.
public final class SFUSimulator: Sendable {
    public let configuration: SimulatorConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    let registry = NIOLockedValueBox(SimulatorRegistry())
    private let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)

    public init(configuration: SimulatorConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "tether.sfu")) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
    }

    /// Binds and starts serving; returns the port actually bound.
    @discardableResult
    public func start() async throws -> Int {
        let simulator = self
        var tls: NIOSSLContext?
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            tls = try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))))
        }
        let serverTLS = tls
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                simulator.registry.withLockedValue { $0.countConnection(nowSeconds: Self.nowSeconds()) }
                return channel.eventLoop.makeCompletedFuture {
                    if let serverTLS { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverTLS)) }
                    try simulator.configurePipeline(channel)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        serverChannel.withLockedValue { $0 = channel }
        return channel.localAddress?.port ?? configuration.port
    }

    /// Stops listening and drops every connection with no close frame, as a crash would.
    public func stop() async {
        let channel = serverChannel.withLockedValue { value -> (any Channel)? in
            defer { value = nil }
            return value
        }
        try? await channel?.close()
        let links = registry.withLockedValue { Array($0.links.values) }
        for link in links { link.drop(reset: false) }
    }

    public var port: Int? { serverChannel.withLockedValue { $0?.localAddress?.port } }
    private var secure: Bool { configuration.tlsCertificatePath != nil && configuration.tlsKeyPath != nil }
    public var signalingURL: String { "\(secure ? "wss" : "ws")://\(urlHost):\(port ?? configuration.port)/ws" }
    public var adminURL: String { "\(secure ? "https" : "http")://\(urlHost):\(port ?? configuration.port)/admin" }
    private var urlHost: String { configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host }

    private func configurePipeline(_ channel: any Channel) throws {
        let simulator = self
        let upgrader = NIOTypedWebSocketServerUpgrader<Void>(
            maxFrameSize: 1 << 20,
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                return channel.eventLoop.makeSucceededFuture(path == "/ws" ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 20))
                    try channel.pipeline.syncOperations.addHandler(SimulatedParticipantHandler(simulator: simulator))
                }
            }
        )
        let configuration = NIOTypedHTTPServerUpgradeConfiguration<Void>(
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(simulator: simulator))
                }
            }
        )
        _ = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
            configuration: .init(upgradeConfiguration: configuration))
    }

    static func nowSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }
    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: - Signaling

    func connected(_ link: ParticipantLink) {
        registry.withLockedValue { $0.links[link.id] = link }
    }

    /// The delay for the answer to the join just handled, when `delay-joins` holds one.
    func takeJoinDelay() -> Int? {
        registry.withLockedValue { registry -> Int? in
            guard registry.joinsToDelay > 0 else { return nil }
            registry.joinsToDelay -= 1
            return registry.joinDelayMilliseconds
        }
    }

    /// When the link that just joined is to be dropped (`drop-after-join`), after how long.
    func takeDropAfterJoin() -> Int? {
        registry.withLockedValue { registry -> Int? in
            guard registry.joinsToDropAfter > 0 else { return nil }
            registry.joinsToDropAfter -= 1
            return registry.dropAfterJoinMilliseconds
        }
    }

    /// Handles a `join_request`; returns the answer for the joining link. Broadcasts
    /// and takeovers are done here.
    func join(_ request: SfuJoinRequest, from link: ParticipantLink) -> (answer: SfuEvent, closeAfter: Bool) {
        let claims: TokenClaims
        do {
            claims = try TokenClaims(token: request.token, secret: configuration.tokenSecret)
        } catch where configuration.acceptAnonymousTokens && configuration.tokenSecret == nil {
            claims = TokenClaims(callCID: "default:anonymous", userID: "anonymous")
        } catch {
            registry.withLockedValue { $0.counters.rejectedJoins += 1 }
            return (Self.errorEvent(.unauthenticated, "\(error)", strategy: .disconnect), true)
        }
        let deadline = configuration.fastReconnectDeadlineSeconds
        var toNotify: [(ParticipantLink, SfuEvent)] = []
        var toDrop: [ParticipantLink] = []
        let answer: SfuEvent = registry.withLockedValue { registry in
            registry.countJoin(nowSeconds: Self.nowSeconds())
            if registry.joinsToReject > 0 {
                registry.joinsToReject -= 1
                registry.counters.rejectedJoins += 1
                return Self.errorEvent(registry.rejectCode, "join rejected by fault injection", strategy: registry.rejectStrategy)
            }
            if request.fastReconnect {
                let now = NIODeadline.now()
                guard var session = registry.sessions[request.sessionID],
                      session.lostAt.map({ now - $0 < .seconds(Int64(deadline)) }) ?? true
                else {
                    registry.counters.fastRejected += 1
                    return Self.errorEvent(.participantReconnectFailed, "no resumable session \(request.sessionID)", strategy: .rejoin)
                }
                if let old = session.link, old != link.id, let oldLink = registry.links[old] {
                    registry.linkSessions[old] = nil
                    toDrop.append(oldLink)
                }
                session.link = link.id
                session.lostAt = nil
                session.tokenExpiresAt = claims.expiresAt
                session.joinKind = "fast"
                session.fastResumes += 1
                registry.sessions[session.id] = session
                registry.linkSessions[link.id] = session.id
                registry.counters.fastResumes += 1
                registry.participants.joined(link: link.id, sessionID: session.id, previousSessionID: nil, nowMs: Self.nowMs())
                return Self.joinResponse(reconnected: true, registry: registry, callCID: session.callCID, deadline: deadline)
            }
            // A new SFU session (first join, REJOIN or MIGRATE): the previous one is gone.
            let previous = request.reconnectDetails.previousSessionID
            if !previous.isEmpty, let removed = registry.remove(sessionID: previous) {
                if let old = removed.session.link, let oldLink = registry.links[old] { toDrop.append(oldLink) }
                toNotify += removed.peers.map { ($0, Self.participantLeft(removed.session)) }
            }
            if let existing = registry.sessions[request.sessionID], let old = existing.link, old != link.id,
               let oldLink = registry.links[old] {
                toDrop.append(oldLink)
            }
            var session = SimulatorRegistry.Session(
                id: request.sessionID, callCID: claims.callCID, userID: claims.userID, link: link.id, lostAt: nil,
                tokenExpiresAt: claims.expiresAt)
            if request.hasReconnectDetails {
                session.joinKind = request.reconnectDetails.strategy == .migrate ? "migrate" : "rejoin"
                session.previousSessionID = previous.isEmpty ? nil : previous
            }
            if request.hasMigration, !request.migration.fromSfuID.isEmpty {
                session.migratedFrom = request.migration.fromSfuID
            }
            registry.sessions[session.id] = session
            registry.calls[session.callCID, default: []].insert(session.id)
            registry.linkSessions[link.id] = session.id
            registry.counters.joins += 1
            registry.participants.joined(link: link.id, sessionID: session.id, previousSessionID: session.previousSessionID, nowMs: Self.nowMs())
            toNotify += registry.peers(of: session.id, in: session.callCID).map { ($0, Self.participantJoined(session)) }
            return Self.joinResponse(reconnected: false, registry: registry, callCID: session.callCID, deadline: deadline)
        }
        for old in toDrop { old.drop(reset: false) }
        for (peer, event) in toNotify { peer.send(event) }
        return (answer, false)
    }

    /// Answers a health check unless health checks are frozen.
    func healthCheck(from link: ParticipantLink) -> SfuEvent? {
        registry.withLockedValue { registry in
            if let frozen = registry.healthFrozenUntil, NIODeadline.now() < frozen {
                registry.counters.healthChecksIgnored += 1
                return nil
            }
            registry.counters.healthChecksAnswered += 1
            var event = SfuEvent()
            var count = Stream_Video_Sfu_Models_ParticipantCount()
            if let sessionID = registry.linkSessions[link.id], let call = registry.sessions[sessionID]?.callCID {
                count.total = UInt32(registry.calls[call]?.count ?? 0)
            }
            event.healthCheckResponse.participantCount = count
            return event
        }
    }

    func leave(_ request: SfuLeaveCallRequest, from link: ParticipantLink) {
        let removed = registry.withLockedValue { registry -> (SimulatorRegistry.Session, [ParticipantLink])? in
            registry.participants.left(link: link.id, nowMs: Self.nowMs())
            guard let sessionID = registry.linkSessions[link.id] else { return nil }
            registry.counters.leaves += 1
            return registry.remove(sessionID: sessionID).map { ($0.session, $0.peers) }
        }
        if let (session, peers) = removed {
            for peer in peers { peer.send(Self.participantLeft(session)) }
        }
    }

    /// The socket went away: its session stays resumable until the FAST deadline.
    func disconnected(_ link: ParticipantLink) {
        let lostSession = registry.withLockedValue { registry -> String? in
            registry.links[link.id] = nil
            registry.participants.left(link: link.id, nowMs: Self.nowMs())
            guard let sessionID = registry.linkSessions.removeValue(forKey: link.id) else { return nil }
            registry.sessions[sessionID]?.link = nil
            registry.sessions[sessionID]?.lostAt = .now()
            return sessionID
        }
        guard let lostSession else { return }
        let simulator = self
        link.channel.eventLoop.scheduleTask(in: .seconds(Int64(configuration.fastReconnectDeadlineSeconds))) {
            simulator.expire(sessionID: lostSession)
        }
    }

    private func expire(sessionID: String) {
        let removed = registry.withLockedValue { registry -> (SimulatorRegistry.Session, [ParticipantLink])? in
            guard let session = registry.sessions[sessionID], session.link == nil,
                  let lostAt = session.lostAt,
                  NIODeadline.now() - lostAt >= .seconds(Int64(configuration.fastReconnectDeadlineSeconds))
            else { return nil }
            return registry.remove(sessionID: sessionID).map { ($0.session, $0.peers) }
        }
        if let (session, peers) = removed {
            for peer in peers { peer.send(Self.participantLeft(session)) }
        }
    }

    // MARK: - Messages

    static func errorEvent(_ code: SfuErrorCode, _ message: String, strategy: SfuReconnectStrategy) -> SfuEvent {
        var event = SfuEvent()
        event.error.error.code = code
        event.error.error.message = message
        event.error.reconnectStrategy = strategy
        return event
    }

    static func joinResponse(reconnected: Bool, registry: SimulatorRegistry, callCID: String, deadline: Int) -> SfuEvent {
        var event = SfuEvent()
        event.joinResponse.reconnected = reconnected
        event.joinResponse.fastReconnectDeadlineSeconds = Int32(deadline)
        let participants = registry.participants(in: callCID)
        event.joinResponse.callState.participants = participants
        event.joinResponse.callState.participantCount.total = UInt32(participants.count)
        return event
    }

    static func participantJoined(_ session: SimulatorRegistry.Session) -> SfuEvent { participantEvent(session, joined: true) }

    static func participantLeft(_ session: SimulatorRegistry.Session) -> SfuEvent { participantEvent(session, joined: false) }

    private static func participantEvent(_ session: SimulatorRegistry.Session, joined: Bool) -> SfuEvent {
        var participant = SfuParticipant()
        participant.userID = session.userID
        participant.sessionID = session.id
        var event = SfuEvent()
        if joined {
            event.participantJoined.callCid = session.callCID
            event.participantJoined.participant = participant
        } else {
            event.participantLeft.callCid = session.callCID
            event.participantLeft.participant = participant
        }
        return event
    }
}
