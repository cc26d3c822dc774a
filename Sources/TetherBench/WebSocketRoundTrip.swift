import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import TetherEngine

/// One sample of the machine floor's WebSocket part: TCP connect, upgrade, one text
/// frame out and its echo back, timed; then a close, not timed. A raw client on
/// swift-nio's own upgrader, as Tether's `WebSocketDialer` is, without the session,
/// dialect or health monitor on top.
enum WebSocketRoundTrip {
    static func measure(port: Int, timeout: Duration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> Duration {
        let started = ContinuousClock.now
        let (channel, upgraded) = try await ClientBootstrap(group: group)
            .connectTimeout(timeout.timeAmount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { (channel, try configure(channel, port: port)) }
            }
        // The rest of the sample (upgrade and echo) is bounded by closing the socket:
        // that fails the upgrade future or ends the inbound stream, whichever is waiting.
        let remaining = max(timeout - (ContinuousClock.now - started), .milliseconds(1))
        let timer = channel.eventLoop.scheduleTask(in: remaining.timeAmount) {
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        let webSocket: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>?
        do {
            webSocket = try await upgraded.get()
        } catch {
            channel.close(promise: nil)
            throw BenchError("the floor's WebSocket upgrade failed or passed its \(timeout) bound: \(error)")
        }
        guard let webSocket else {
            channel.close(promise: nil)
            throw BenchError("the floor's echo server answered the upgrade without switching to WebSocket")
        }
        return try await webSocket.executeThenClose { inbound, outbound in
            try await outbound.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: "floor")))
            for try await frame in inbound where frame.opcode == .text {
                let elapsed = ContinuousClock.now - started
                var code = ByteBuffer()
                code.write(webSocketErrorCode: .normalClosure)
                try? await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: code))
                return elapsed
            }
            throw BenchError("the floor's echo server closed before echoing, or the sample passed its \(timeout) bound")
        }
    }

    private static func configure(_ channel: any Channel, port: Int) throws -> EventLoopFuture<NIOAsyncChannel<WebSocketFrame, WebSocketFrame>?> {
        let upgrader = NIOTypedWebSocketClientUpgrader<NIOAsyncChannel<WebSocketFrame, WebSocketFrame>?>(
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel)
                }
            }
        )
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "127.0.0.1:\(port)")
        let configuration = NIOTypedHTTPClientUpgradeConfiguration<NIOAsyncChannel<WebSocketFrame, WebSocketFrame>?>(
            upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: headers),
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(nil) }
        )
        return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
            configuration: .init(upgradeConfiguration: configuration))
    }
}
