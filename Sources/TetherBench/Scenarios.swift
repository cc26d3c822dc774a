import Foundation
import NIOCore
import TetherEngine
import TetherEvents
import TetherService

/// The benchmark scenarios. Each has bounded size and time and stops what it started.
public enum Scenarios {
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw BenchError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func withSimulator<T>(_ body: (SimulatorProcess) async throws -> T) async throws -> T {
        let simulator = SimulatorProcess(port: try freePort())
        try await simulator.start()
        do {
            let result = try await body(simulator)
            simulator.stop()
            return result
        } catch {
            simulator.stop()
            throw error
        }
    }

    // MARK: - detection

    /// Time from an abrupt drop to `connection_lost`, and how a health-check timeout
    /// lands against its configured value. The drop's p99 is also set against `floor`'s
    /// WebSocket round trip in a burst: both are a socket event travelling through the
    /// loopback and an event loop.
    public static func detection(sessions: Int, rounds: Int, floor: MachineFloor) async throws -> BenchReport {
        var report = BenchReport(scenario: "detection", parameters: "\(sessions) sessions, \(rounds) rounds")
        var drop = Samples()
        try await withSimulator { simulator in
            // With `tether serve`'s default reconnect caps: the reconnections a drop sets
            // off share the cores with the detection of the other sessions' losses, and
            // serve never lets all of them dial at once.
            let serve = ServiceConfiguration()
            let fleet = try await Fleet.join(
                count: sessions, url: simulator.url, policy: .default,
                limiter: ReconnectLimiter(maxInFlight: serve.maxReconnectsInFlight, perSecond: serve.maxReconnectsPerSecond))
            for _ in 0..<rounds {
                let before = fleet.count("reconnected", since: .now - .seconds(3600))
                let t0 = ContinuousClock.now
                let droppedAt = try await Admin.post(simulator, "drop")
                guard await fleet.wait(timeout: .seconds(30), until: { fleet.count("connection_lost", since: t0) >= sessions }) else {
                    throw BenchError("not every session noticed the drop")
                }
                // From the moment the simulator began closing sockets (its clock and ours
                // are the same CLOCK_BOOTTIME) to the recorded loss.
                for stamp in fleet.all() where stamp.type == "connection_lost" && stamp.at >= t0 {
                    drop.add(.nanoseconds(stamp.bootNanoseconds - droppedAt))
                }
                await fleet.wait(timeout: .seconds(30)) { fleet.count("reconnected", since: .now - .seconds(3600)) >= before + sessions }
            }
            report.add("abrupt drop (simulator closes the socket) → connection_lost recorded, p50", drop.ms(50), target: "")
            report.add("abrupt drop → connection_lost, p99", drop.ms(99), target: "≤ 5 ms")
            report.add(
                "loss recorded p99 / WebSocket round-trip p99 (\(floor.burstLabel))",
                FloorRatio.times(drop.percentile(99), over: floor.webSocketBurstP99))
            report.add("samples", "\(drop.count)")
            await fleet.leaveAll()
        }
        // The same number of closes at once with nothing on top: raw TCP, server and
        // clients in this process.
        let rawCloses = try await DropFloor.measure(count: sessions, rounds: rounds)
        report.add("floor: raw TCP, \(sessions) closed at once by the server → each client sees its close, p50", rawCloses.ms(50))
        report.add("floor: … p99", rawCloses.ms(99))
        report.add(
            "loss recorded p99 / raw close p99 (\(sessions) at once)", FloorRatio.times(drop.percentile(99), over: rawCloses.percentile(99)),
            target: "≤ 1×")
        // Health-check timeout: 100 ms checks, 500 ms timeout, then the SFU goes silent.
        try await withSimulator { simulator in
            let policy = ReconnectPolicy(healthCheckInterval: .milliseconds(100), healthCheckTimeout: .milliseconds(500))
            let count = min(sessions, 200)
            let fleet = try await Fleet.join(count: count, url: simulator.url, policy: policy)
            try await Task.sleep(for: .milliseconds(300))
            let t0 = ContinuousClock.now
            try await Admin.post(simulator, "freeze?ms=3000")
            await fleet.wait(timeout: .seconds(10)) { fleet.count("connection_lost", since: t0) >= count }
            var lateness = Samples()
            for (_, at) in fleet.first("connection_lost", since: t0) { lateness.add(at - t0) }
            // The last answer came at most one interval before the freeze, so the
            // silence at detection is between (t - interval) and t.
            report.add("freeze → health_check_timeout (500 ms timeout, 100 ms checks), p50", lateness.ms(50))
            report.add("freeze → health_check_timeout, p99", lateness.ms(99), target: "timeout + ≤ 1 check interval")
            await fleet.leaveAll()
        }
        return report
    }

    // MARK: - recovery

    /// Loss → joined again: FAST with the SFU healthy, REJOIN with the SFU having forgotten.
    /// Each p99 is also set against `floor`'s connect + round trip in a burst: a
    /// recovery is at least one such connect and one join exchange.
    public static func recovery(sessions: Int, rounds: Int, floor: MachineFloor) async throws -> BenchReport {
        var report = BenchReport(scenario: "recovery", parameters: "\(sessions) sessions, \(rounds) rounds each")
        try await withSimulator { simulator in
            // Rounds follow each other within seconds, so with the default damping every
            // round after the first would wait as a flap (issue 10) and the figure would be
            // the backoff, not the reconnection: damping off, as for a node that drops
            // rarely.
            var policy = ReconnectPolicy.default
            policy.stableAfter = .milliseconds(1)
            policy.flapLimit = 10_000
            let fleet = try await Fleet.join(count: sessions, url: simulator.url, policy: policy)
            for (fault, label, strategy) in [("drop", "FAST (SFU healthy)", "FAST"), ("forget", "REJOIN (SFU forgot the session)", "REJOIN")] {
                var samples = Samples()
                for _ in 0..<rounds {
                    let t0 = ContinuousClock.now
                    try await Admin.post(simulator, fault)
                    guard await fleet.wait(timeout: .seconds(30), until: { fleet.count("reconnected", since: t0) >= sessions }) else {
                        throw BenchError("not every session recovered after \(fault)")
                    }
                    let lost = fleet.first("connection_lost", since: t0)
                    for (session, back) in fleet.first("reconnected", since: t0) {
                        if let at = lost[session] { samples.add(back - at) }
                    }
                }
                report.add("\(label): loss → joined, p50", samples.ms(50))
                report.add("\(label): loss → joined, p99", samples.ms(99), target: fault == "drop" ? "≤ 20 ms" : "")
                report.add(
                    "\(strategy) recovery p99 / connect+round-trip p99 (\(floor.burstLabel))",
                    FloorRatio.times(samples.percentile(99), over: floor.webSocketBurstP99),
                    target: fault == "drop" ? "≤ 10×" : "")
            }
            await fleet.leaveAll()
        }
        return report
    }

    // MARK: - scale

    /// N joined sessions in this process: memory, CPU at steady state, descriptors.
    public static func scale(sessions: Int, steady: Duration) async throws -> BenchReport {
        var report = BenchReport(scenario: "scale", parameters: "\(sessions) sessions, 5 s health checks, \(steady) steady window")
        try await withSimulator { simulator in
            let rssBefore = ProcessUsage.residentBytes()
            let fdsBefore = ProcessUsage.openFileDescriptors()
            let started = ContinuousClock.now
            let fleet = try await Fleet.join(count: sessions, url: simulator.url, policy: .default, concurrency: 200)
            let joinTime = ContinuousClock.now - started
            try await Task.sleep(for: .seconds(2))
            let cpu0 = ProcessUsage.cpuTime()
            let wall0 = ContinuousClock.now
            try await Task.sleep(for: steady)
            let cpu = ProcessUsage.cpuTime() - cpu0
            let wall = ContinuousClock.now - wall0
            let rss = ProcessUsage.residentBytes() - rssBefore
            let fds = ProcessUsage.openFileDescriptors() - fdsBefore
            let perSession = Double(rss) / Double(sessions) / 1024
            let cpuPercent = Double(cpu.components.seconds * 1_000_000 + cpu.components.attoseconds / 1_000_000_000_000) /
                Double(wall.components.seconds * 1_000_000 + wall.components.attoseconds / 1_000_000_000_000) * 100
            let joined = fleet.all().filter { $0.type == "joined" }.count
            report.add("sessions joined", "\(joined) in \(Samples.ms(joinTime))")
            report.add("RSS per session", String(format: "%.1f KB", perSession), target: "≤ 50 KB")
            report.add("CPU at steady state", String(format: "%.1f%% of one core", cpuPercent), target: "≤ 15%")
            report.add("open file descriptors added", "\(fds) (\(String(format: "%.2f", Double(fds) / Double(sessions))) per session)")
            report.add("simulator RSS", "\(ProcessUsage.residentBytes(pid: String(simulator.pid ?? 0)) / 1024 / 1024) MB")
            await fleet.leaveAll()
        }
        return report
    }

    // MARK: - storm

    /// The simulator crashes and restarts with N sessions on it: how long until every
    /// session is back, the connection rate the SFU saw, and failures. The time is also
    /// set against the ideal: the cap lets the last session start no sooner than
    /// sessions ÷ cap, and it then needs a connect + round trip (`floor`'s burst p99).
    public static func storm(
        sessions: Int, perSecond: Int, inFlight: Int, restartDetection: Bool = true, calls: Int = 100, floor: MachineFloor
    ) async throws -> BenchReport {
        var report = BenchReport(
            scenario: "storm",
            parameters: "\(sessions) sessions in \(calls) calls, cap \(perSecond)/s and \(inFlight) in flight, node-restart detection \(restartDetection ? "on" : "off")")
        try await withSimulator { simulator in
            let limiter = ReconnectLimiter(maxInFlight: inFlight, perSecond: perSecond)
            // As `tether serve` runs: a few refused resumes mark the node restarted.
            let restartWatch = restartDetection ? NodeRestartWatch() : nil
            let fleet = try await Fleet.join(
                count: sessions, url: simulator.url, policy: .default, limiter: limiter, restartWatch: restartWatch, concurrency: 200,
                calls: calls)
            let t0 = ContinuousClock.now
            simulator.crash()
            try await simulator.start()
            // Nothing can reconnect before the SFU listens again; how long its process
            // takes to start is the SFU's, not Tether's.
            let listening = ContinuousClock.now
            let allBack = await fleet.wait(timeout: .seconds(60)) { fleet.count("reconnected", since: t0) >= sessions }
            let elapsed = ContinuousClock.now - t0
            let sinceListening = ContinuousClock.now - listening
            // Everything the storm recorded, read once for the counts below.
            let stamps = fleet.all().filter { $0.at >= t0 }
            func count(_ type: String) -> Int { stamps.filter { $0.type == type }.count }
            let failed = count("reconnect_failed")
            let state = try await Admin.state(simulator)
            let counters = state["counters"] as? [String: Any] ?? [:]
            let peak = counters["peak_connections_per_second"] as? Int ?? -1
            let accepted = counters["connections_accepted"] as? Int ?? -1
            report.add("all back", allBack ? "yes, in \(Samples.ms(elapsed))" : "NO: \(fleet.count("reconnected", since: t0)) of \(sessions) after \(Samples.ms(elapsed))", target: "≤ 15 s for 10,000 at 1,000/s")
            let paced = Duration.seconds(Double(sessions) / Double(max(perSecond, 1)))
            let ideal = floor.webSocketBurstP99.map { paced + $0 }
            report.add(
                "ideal: sessions ÷ cap + connect+round-trip p99 (\(floor.burstLabel))",
                ideal.map { "\(Samples.ms(paced)) + \(Samples.ms($0 - paced)) = \(Samples.ms($0))" } ?? FloorRatio.missing)
            report.add(
                "all back / ideal (sessions ÷ cap + connect+round trip)",
                allBack ? FloorRatio.times(elapsed, over: ideal) : "not all back",
                target: "≤ 1.5× (as 15 s for 10,000 at 1,000/s)")
            report.add("SFU restart: kill -9 → listening again", Samples.ms(listening - t0))
            report.add(
                "all back, from the SFU listening again / ideal",
                allBack ? "\(Samples.ms(sinceListening)), \(FloorRatio.times(sinceListening, over: ideal))" : "not all back",
                target: "≤ 1.1×")
            // The storm's shape: where the time beyond the ideal went.
            var perSecondBack: [Int] = []
            for stamp in stamps where stamp.type == "reconnected" && stamp.at >= listening {
                let second = Int((stamp.at - listening).inSeconds)
                if second >= perSecondBack.count { perSecondBack += Array(repeating: 0, count: second - perSecondBack.count + 1) }
                perSecondBack[second] += 1
            }
            report.add("reconnected in each second after the SFU listened", perSecondBack.map(String.init).joined(separator: ", "))
            report.add("attempts that failed on the way (SFU still down, FAST refused)", "\(count("reconnect_attempt_failed"))")
            report.add("failures", "\(failed)", target: "0")
            report.add("peak connections per second at the SFU", "\(peak)", target: "≤ cap (\(perSecond))")
            report.add("connections the restarted SFU accepted", "\(accepted)")
            report.add("connections per session", String(format: "%.3f", Double(accepted) / Double(max(sessions, 1))), target: "≤ 1.2")
            report.add("sessions that escalated FAST → REJOIN", "\(count("strategy_escalated"))")
            report.add("peak attempts in flight", "\(await limiter.peakInFlight)", target: "≤ \(inFlight)")
            await fleet.leaveAll()
        }
        return report
    }
}
