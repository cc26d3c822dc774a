import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

extension MachineFloor {
    /// About the size of a session's JSON: the trivial route answers bytes, not nothing.
    static let trivialBody = #"{"id":"floor","state":"joined","generation":1,"losses":0,"reconnects":0}"#

    /// A bare Hummingbird application (one GET route, a fixed JSON body, no
    /// middleware) on 127.0.0.1 and a free port, loaded with the api scenario's wrk
    /// arguments. Nil when wrk is not installed; the server is stopped either way.
    static func measureTrivialRoute(connections: Int, duration: Int) async throws -> WrkResult? {
        guard Wrk.isInstalled else { return nil }
        let router = Router()
        router.get("floor") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: trivialBody)))
        }
        var logger = Logger(label: "tether.bench.floor")
        logger.logLevel = .error
        let (ports, portSeen) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portSeen.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let running = Task {
            // Ends the wait for a port if the server never comes up.
            defer { portSeen.finish() }
            try await group.run()
        }
        var port = 0
        for await bound in ports { port = bound; break }
        do {
            guard port > 0 else { throw BenchError("the floor's Hummingbird server did not start") }
            let result = try await Wrk.run(
                Wrk.getArguments(url: "http://127.0.0.1:\(port)/floor", connections: connections, duration: duration),
                duration: duration)
            await group.triggerGracefulShutdown()
            try await running.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }
}
