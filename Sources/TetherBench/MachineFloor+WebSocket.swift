extension MachineFloor {
    /// A loopback echo slower than this is broken, not slow: the sample fails.
    static let webSocketSampleTimeout: Duration = .seconds(5)
    /// Round trips before the series, not counted: the first connections pay for
    /// event-loop threads starting and lazy set-up that no scenario pays for again.
    static let webSocketWarmUp = 5

    /// Connect + round trip against a bare echo server: `sizes.samples` one after
    /// another, then bursts of `sizes.burst` started together (as the scenarios' fleets
    /// reconnect together) until at least as many samples are in.
    static func measureWebSocket(_ sizes: Sizes) async throws -> (oneAtATime: Samples, bursts: Samples, burstCount: Int) {
        let server = try await WebSocketEchoServer.start()
        do {
            guard let port = server.port else { throw BenchError("the floor's echo server has no port") }
            let timeout = webSocketSampleTimeout
            for _ in 0..<webSocketWarmUp { _ = try await WebSocketRoundTrip.measure(port: port, timeout: timeout) }
            var oneAtATime = Samples()
            for _ in 0..<sizes.samples {
                oneAtATime.add(try await WebSocketRoundTrip.measure(port: port, timeout: timeout))
            }
            var bursts = Samples()
            let burstCount = (sizes.samples + sizes.burst - 1) / sizes.burst
            for _ in 0..<burstCount {
                let burst = try await withThrowingTaskGroup(of: Duration.self, returning: [Duration].self) { group in
                    for _ in 0..<sizes.burst {
                        group.addTask { try await WebSocketRoundTrip.measure(port: port, timeout: timeout) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for sample in burst { bursts.add(sample) }
            }
            await server.stop()
            return (oneAtATime, bursts, burstCount)
        } catch {
            await server.stop()
            throw error
        }
    }
}
