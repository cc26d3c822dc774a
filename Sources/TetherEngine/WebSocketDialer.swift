import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Opens a WebSocket with swift-nio's own client upgrader, bounded by a connect
/// timeout and an upgrade timeout that close the socket when they fire.
///
/// Why not `WSClient`: measured here, against a server that accepts TCP but never
/// answers the upgrade, `WSClient` waited more than 190 s and task cancellation did not
/// end it. Tether must never hold a socket past its step timeout, so it dials with
/// NIO's `NIOTypedWebSocketClientUpgrader` (no hand-written framing).
struct WebSocketDialer: Sendable {
    let eventLoopGroup: any EventLoopGroup
    let tls: TLSTrust
    let maxFrameSize = 1 << 20

    init(eventLoopGroup: any EventLoopGroup, tls: TLSTrust = .system) {
        self.eventLoopGroup = eventLoopGroup
        self.tls = tls
    }

    /// Resolves `url` through `resolver` (which applies the address policy), connects
    /// to the first address that answers, and installs `makeHandler`'s handler once
    /// upgraded. The whole step, resolution included, is bounded by `connectTimeout`.
    func dial(
        _ url: SignalingURL,
        resolver: SFUAddressResolver,
        subprotocol: String?,
        connectTimeout: Duration,
        makeHandler: @escaping @Sendable (any Channel) -> SignalingChannelHandler
    ) async throws -> (any Channel, NIOLoopBound<SignalingChannelHandler>) {
        let deadline = ContinuousClock.now + connectTimeout
        let addresses = try await resolver.addresses(for: url, timeout: connectTimeout)
        var lastFailure = ConnectFailure(.refused, "no address to dial for \(url.host)")
        for (index, address) in addresses.enumerated() {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                throw ConnectFailure(.connectTimeout, "no TCP connection to \(url.host):\(url.port) within \(connectTimeout)")
            }
            do {
                return try await dial(url, at: address, subprotocol: subprotocol, budget: remaining, makeHandler: makeHandler)
            } catch let failure as ConnectFailure where failure.kind == .refused && index < addresses.count - 1 {
                // Another address of the same name may answer: the next one gets what is left.
                lastFailure = failure
            }
        }
        throw lastFailure
    }

    /// One TCP connect and upgrade to `address`, both within `budget`.
    private func dial(
        _ url: SignalingURL,
        at address: SocketAddress,
        subprotocol: String?,
        budget: Duration,
        makeHandler: @escaping @Sendable (any Channel) -> SignalingChannelHandler
    ) async throws -> (any Channel, NIOLoopBound<SignalingChannelHandler>) {
        let started = ContinuousClock.now
        // Only for cancellation while the TCP connect is under way; afterwards the
        // channel the connect returned is the one every timeout closes. `cancelled`
        // covers a cancel that lands before the bootstrap has made its channel.
        let connecting = NIOLockedValueBox<(channel: (any Channel)?, cancelled: Bool)>((nil, false))
        if Task.isCancelled { throw ConnectFailure(.cancelled, "the attempt was cancelled") }
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(budget.timeAmount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // Past the high mark the channel turns unwritable and the handler calls the
            // peer "not reading": what Tether queues for one SFU stays bounded.
            .channelOption(.writeBufferWaterMark, value: .init(
                low: SignalingChannelHandler.unsentLowWaterMark, high: SignalingChannelHandler.unsentHighWaterMark))
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
        let tls: NIOSSLContext? = url.secure ? try self.tls.makeContext() : nil
        let maxFrameSize = self.maxFrameSize

        return try await withTaskCancellationHandler {
            let channel: any Channel
            let upgraded: EventLoopFuture<NIOLoopBound<SignalingChannelHandler>?>
            do {
                (channel, upgraded) = try await bootstrap.connect(to: address) { channel in
                    let cancelled = connecting.withLockedValue { state -> Bool in
                        state.channel = channel
                        return state.cancelled
                    }
                    if cancelled { channel.close(promise: nil) }
                    return channel.eventLoop.makeCompletedFuture {
                        let upgraded = try Self.configure(
                            channel: channel, url: url, subprotocol: subprotocol, tls: tls,
                            maxFrameSize: maxFrameSize, makeHandler: makeHandler)
                        return (channel, upgraded)
                    }
                }
            } catch let error as ChannelError where error == .connectTimeout(budget.timeAmount) {
                throw ConnectFailure(.connectTimeout, "no TCP connection to \(url.host):\(url.port) within \(budget)")
            } catch {
                if Task.isCancelled { throw ConnectFailure(.cancelled, "the attempt was cancelled") }
                throw ConnectFailure(.refused, "cannot connect to \(url.host):\(url.port): \(error)")
            }
            // The rest of the step's budget goes to the upgrade; the timer closes the
            // socket, which fails the upgrade future and frees everything.
            let remaining = max(budget - (ContinuousClock.now - started), .milliseconds(1))
            let timedOut = NIOLockedValueBox(false)
            let timer = channel.eventLoop.scheduleTask(in: remaining.timeAmount) {
                timedOut.withLockedValue { $0 = true }
                channel.close(promise: nil)
            }
            defer { timer.cancel() }
            let handler: NIOLoopBound<SignalingChannelHandler>?
            do {
                handler = try await upgraded.get()
            } catch {
                channel.close(promise: nil)
                if timedOut.withLockedValue({ $0 }) {
                    throw ConnectFailure(.upgradeTimeout, "\(url) did not complete the WebSocket upgrade within \(budget)")
                }
                if Task.isCancelled { throw ConnectFailure(.cancelled, "the attempt was cancelled") }
                if error is NIOSSLError || error is BoringSSLError {
                    throw ConnectFailure(.tlsFailed, "TLS with \(url.host) failed: \(error) (a private CA needs --sfu-ca-file)")
                }
                throw ConnectFailure(.upgradeRejected, "WebSocket upgrade to \(url) failed: \(error)")
            }
            guard let handler else {
                channel.close(promise: nil)
                throw ConnectFailure(.upgradeRejected, "\(url) answered the upgrade without switching to WebSocket")
            }
            if Task.isCancelled {
                channel.close(promise: nil)
                throw ConnectFailure(.cancelled, "the attempt was cancelled")
            }
            return (channel, handler)
        } onCancel: {
            connecting.withLockedValue { state -> (any Channel)? in
                state.cancelled = true
                return state.channel
            }?.close(promise: nil)
        }
    }

    private static func configure(
        channel: any Channel, url: SignalingURL, subprotocol: String?, tls: NIOSSLContext?,
        maxFrameSize: Int, makeHandler: @escaping @Sendable (any Channel) -> SignalingChannelHandler
    ) throws -> EventLoopFuture<NIOLoopBound<SignalingChannelHandler>?> {
        if let tls {
            // SNI carries names only; an IP-literal URL is verified against the address.
            let serverHostname = IPAddress(parsing: url.host) == nil ? url.host : nil
            let sslHandler = try NIOSSLClientHandler(context: tls, serverHostname: serverHostname)
            try channel.pipeline.syncOperations.addHandler(sslHandler)
        }
        let upgrader = NIOTypedWebSocketClientUpgrader<NIOLoopBound<SignalingChannelHandler>?>(
            maxFrameSize: maxFrameSize,
            // Protocol errors go to SignalingChannelHandler, which records them as an
            // `error` loss; NIO's own handler would close first and leave a bare 1006.
            enableAutomaticErrorHandling: false,
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let handler = makeHandler(channel)
                    try channel.pipeline.syncOperations.addHandler(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64,
                            maxAccumulatedFrameSize: maxFrameSize))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return NIOLoopBound(handler, eventLoop: channel.eventLoop)
                }
            }
        )
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.hostHeader)
        if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target, headers: headers)
        let configuration = NIOTypedHTTPClientUpgradeConfiguration<NIOLoopBound<SignalingChannelHandler>?>(
            upgradeRequestHead: head,
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(nil) }
        )
        var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
        pipeline.leftOverBytesStrategy = .forwardBytes
        return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
    }
}
