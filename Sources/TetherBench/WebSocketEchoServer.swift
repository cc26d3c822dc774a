import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A bare WebSocket echo server on 127.0.0.1 and a free port: swift-nio's own upgrader
/// and ``WebSocketEchoHandler``, no routing, no application protocol.
struct WebSocketEchoServer: Sendable {
    let channel: any Channel

    var port: Int? { channel.localAddress?.port }

    static func start(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> WebSocketEchoServer {
        let channel = try await ServerBootstrap(group: group)
            // Bursts of connects arrive together; the default backlog would refuse some.
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel) }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return WebSocketEchoServer(channel: channel)
    }

    private static func configure(_ channel: any Channel) throws {
        let upgrader = NIOTypedWebSocketServerUpgrader<Void>(
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketEchoHandler())
                }
            }
        )
        let configuration = NIOTypedHTTPServerUpgradeConfiguration<Void>(
            upgraders: [upgrader],
            // Anything but an upgrade is not part of the floor: hang up.
            notUpgradingCompletionHandler: { channel in channel.close() }
        )
        _ = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
            configuration: .init(upgradeConfiguration: configuration))
    }

    /// Stops listening. Connections still open are the clients' to close; each
    /// round trip closes its own.
    func stop() async {
        try? await channel.close()
    }
}
