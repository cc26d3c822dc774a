import Foundation

extension Scenarios {
    // MARK: - serve

    /// What idle sessions cost a whole `tether serve` (SQLite, a file of the run's own,
    /// loopback, default 5 s health checks), created through its API and joined to two
    /// simulator processes: the service's RSS after the sessions minus before, per
    /// session, and its CPU over `steady` once they are all joined. Unlike `scale`
    /// (the engine alone in the bench's process), this counts everything a session
    /// holds in the service: its registry entry, cached body, history rows' memory.
    public static func serve(sessions: Int, steady: Duration, settle: Duration = .seconds(5)) async throws -> BenchReport {
        var report = BenchReport(
            scenario: "serve",
            parameters: "tether serve (SQLite, loopback), \(sessions) sessions over 2 simulator processes, 5 s health checks, \(steady) steady window")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tether-bench-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withSimulator { first in
            try await withSimulator { second in
                let service = try await ServeProcess.start([
                    "--db", directory.appendingPathComponent("tether.sqlite").path, "--max-sessions", String(sessions + 100),
                    "--log-level", "error",
                ])
                defer { service.crash() }
                let pid = String(service.process.processIdentifier)
                // Its start-up allocations settled, as they would be before any traffic.
                try await Task.sleep(for: settle / 2)
                let rssBefore = ProcessUsage.residentBytes(pid: pid)
                let started = ContinuousClock.now
                let half = sessions / 2
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await createSessions(half, on: service.base, prefix: "a", callSize: 4, sfuURL: first.url) }
                    group.addTask { try await createSessions(sessions - half, on: service.base, prefix: "b", callSize: 4, sfuURL: second.url) }
                    try await group.waitForAll()
                }
                let joinTime = ContinuousClock.now - started
                // The creates' buffers and history writes settle before the window.
                try await Task.sleep(for: settle)
                let cpu0 = try ProcessUsage.cpuTime(pid: pid)
                let wall0 = ContinuousClock.now
                try await Task.sleep(for: steady)
                let cpu = try ProcessUsage.cpuTime(pid: pid) - cpu0
                let wall = ContinuousClock.now - wall0
                let rss = ProcessUsage.residentBytes(pid: pid) - rssBefore
                report.add("sessions created through the API and joined", "\(sessions) in \(Samples.ms(joinTime))")
                report.add(
                    "(RSS after − RSS before) ÷ sessions", String(format: "%.1f KiB", Double(rss) / Double(max(sessions, 1)) / 1024),
                    target: "≤ 10 KiB")
                report.add("service CPU at steady state", String(format: "%.1f%% of one core", cpu.inSeconds / wall.inSeconds * 100), target: "≤ 2%")
                report.add("service RSS after", "\(ProcessUsage.residentBytes(pid: pid) / 1024 / 1024) MB (before: \(rssBefore / 1024 / 1024) MB)")
            }
        }
        return report
    }
}
