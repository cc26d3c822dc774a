import NIOCore
import NIOPosix
import Synchronization

/// The floor for detecting many losses at once: `count` raw TCP connections on
/// loopback, all closed by the server in one go, and the time until each client's
/// channel sees its close. No WebSocket, no session, no history: what the kernel and
/// NIO alone take to deliver that many closes to one process on this machine.
///
/// The server runs in this process, so its closing shares the event loops with the
/// clients' reading, as the simulator (another process) shares the machine's cores
/// with the engine in the detection scenario.
enum DropFloor {
    static func measure(count: Int, rounds: Int, group: MultiThreadedEventLoopGroup = .singleton) async throws -> Samples {
        var samples = Samples()
        for _ in 0..<rounds {
            for sample in try await once(count: count, group: group) { samples.add(sample) }
        }
        return samples
    }

    private static func once(count: Int, group: MultiThreadedEventLoopGroup) async throws -> [Duration] {
        let accepted = Mutex<[any Channel]>([])
        let closes = Mutex<[ContinuousClock.Instant]>([])
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                accepted.withLock { $0.append(channel) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        defer { server.close(promise: nil) }
        guard let port = server.localAddress?.port else { throw BenchError("the drop floor's server has no port") }
        var clients: [any Channel] = []
        defer { for client in clients { client.close(promise: nil) } }
        for _ in 0..<count {
            clients.append(try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(CloseStamp { closes.withLock { $0.append(.now) } })
                    }
                }
                .connect(host: "127.0.0.1", port: port)
                .get())
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while accepted.withLock({ $0.count }) < count {
            guard ContinuousClock.now < deadline else { throw BenchError("the drop floor's server accepted too few connections") }
            try await Task.sleep(for: .milliseconds(5))
        }
        let t0 = ContinuousClock.now
        for channel in accepted.withLock({ $0 }) { channel.close(promise: nil) }
        while closes.withLock({ $0.count }) < count {
            guard ContinuousClock.now < deadline + .seconds(10) else { throw BenchError("the drop floor's clients did not all see their close") }
            try await Task.sleep(for: .milliseconds(2))
        }
        return closes.withLock { $0.map { $0 - t0 } }
    }

    /// Calls `stamp` when its channel goes inactive.
    private final class CloseStamp: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let stamp: @Sendable () -> Void

        init(_ stamp: @escaping @Sendable () -> Void) { self.stamp = stamp }

        func channelInactive(context: ChannelHandlerContext) {
            stamp()
            context.fireChannelInactive()
        }
    }
}
