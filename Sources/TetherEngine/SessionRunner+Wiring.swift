import Logging
import NIOCore
import TetherEvents

extension SessionRunner {
    /// A runner on real WebSockets: a ``SignalingClient`` for `dialect`, an
    /// ``AttemptExecutor`` with the service-wide caps, and a machine for `configuration`.
    /// `record`, `onSnapshot` and `onCredentials` see each batch's parts in that order
    /// (or give a `sink` to the designated initializer to take them as one unit).
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
        janitor: StaleSessionJanitor? = nil,
        onCredentials: @escaping @Sendable (_ token: String, _ nodes: [String]) -> Void = { _, _ in },
        onSnapshot: @escaping @Sendable (SessionSnapshot) -> Void = { _ in },
        record: @escaping @Sendable (SessionEvent) -> Void
    ) {
        self.init(
            configuration: configuration, dialect: dialect, eventLoopGroup: eventLoopGroup, addressPolicy: addressPolicy,
            firstGeneration: firstGeneration, tls: tls, logger: logger, limiter: limiter, restartWatch: restartWatch,
            credentialsSource: credentialsSource, janitor: janitor
        ) { update in
            for event in update.events { record(event) }
            if let snapshot = update.snapshot { onSnapshot(snapshot) }
            if let credentials = update.credentials { onCredentials(credentials.token, credentials.nodes) }
        }
    }

    /// A runner on real WebSockets whose batches go to `sink` whole.
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
        janitor: StaleSessionJanitor? = nil,
        permit: ActingPermit? = nil,
        sink: @escaping @Sendable (SessionUpdate) -> Void
    ) {
        let client = SignalingClient(
            dialect: dialect, policy: configuration.policy, addressPolicy: addressPolicy, eventLoopGroup: eventLoopGroup, tls: tls)
        // Cleanups dial with a client of their own: a stale session outlives this one.
        let cleanup: (StaleSessionJanitor, any SignalingTransport)? = dialect.leavesStaleSessions ? janitor.map {
            ($0, SignalingClient(dialect: dialect, policy: configuration.policy, addressPolicy: addressPolicy, eventLoopGroup: eventLoopGroup, tls: tls))
        } : nil
        self.init(
            configuration: configuration,
            machine: Reconnector(
                policy: configuration.policy, nodes: configuration.sfuURLs, token: configuration.token, firstGeneration: firstGeneration,
                makeBeforeBreak: dialect.supportsMakeBeforeBreak, resumesAcrossRestarts: dialect.resumesAcrossRestarts,
                leavesStaleSessions: dialect.leavesStaleSessions, refreshesCredentials: credentialsSource != nil),
            transport: client,
            executor: AttemptExecutor(
                transport: client, limiter: limiter, restartWatch: restartWatch, credentials: credentialsSource,
                sessionID: configuration.id, callID: configuration.callID, userID: configuration.userID, permit: permit),
            janitor: cleanup.map { (janitor: $0.0, transport: $0.1) },
            logger: logger, sink: sink)
    }
}
