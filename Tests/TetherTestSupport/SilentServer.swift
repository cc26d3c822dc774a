import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP server on loopback that accepts and then says nothing (the WebSocket upgrade
/// is never answered): where a dial's upgrade timeout, or its cancellation, is tested.
public final class SilentServer: Sendable {
    private let server: any Channel
    private let accepted: NIOLockedValueBox<[any Channel]>

    public static func start() async throws -> SilentServer {
        let accepted = NIOLockedValueBox<[any Channel]>([])
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                accepted.withLockedValue { $0.append(channel) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return SilentServer(server: server, accepted: accepted)
    }

    private init(server: any Channel, accepted: NIOLockedValueBox<[any Channel]>) {
        self.server = server
        self.accepted = accepted
    }

    public var url: String { "ws://127.0.0.1:\(server.localAddress?.port ?? 0)/ws" }
    public var acceptedCount: Int { accepted.withLockedValue { $0.count } }
    /// True once every accepted socket has been closed by the client.
    public var allClosed: Bool { accepted.withLockedValue { $0.allSatisfy { !$0.isActive } } }

    public func stop() async throws { try await server.close() }
}
