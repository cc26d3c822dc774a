import Foundation

/// What this machine does with nothing of Tether in the way, measured in the same
/// run as the scenarios: a raw WebSocket echo, raw SQLite inserts with the event log's
/// pragmas, and a trivial Hummingbird route under the api scenario's wrk load.
///
/// Absolute figures move with the machine (and, on a shared one, with the minute);
/// a scenario's figure divided by the floor measured minutes before on the same
/// machine is what can be compared across machines and runs.
public struct MachineFloor: Sendable {
    /// The parts a scenario divides by; only the ones a run needs are measured.
    public struct Parts: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// Connect + upgrade + one echoed text frame, one at a time and in bursts.
        public static let webSocket = Parts(rawValue: 1 << 0)
        /// Rows per second into an events-shaped table, synced commits.
        public static let sqliteInserts = Parts(rawValue: 1 << 1)
        /// A bare Hummingbird route with a fixed JSON body, under wrk.
        public static let trivialRoute = Parts(rawValue: 1 << 2)
    }

    /// How much of each part to measure. The insert and wrk sizes are the scenarios'
    /// own, so that each ratio sets like against like.
    public struct Sizes: Sendable {
        /// WebSocket samples one at a time; the bursts add up to at least as many.
        public var samples: Int
        /// WebSocket round trips started together in one burst.
        public var burst: Int
        /// Rows to insert: as many as the events scenario's events.
        public var insertRows: Int
        /// Distinct session ids among the rows, as in the events scenario.
        public var insertSessions: Int
        /// The api scenario's wrk connections and seconds for its GET run.
        public var wrkConnections: Int
        public var wrkDuration: Int

        public init(samples: Int, burst: Int, insertRows: Int, insertSessions: Int, wrkConnections: Int, wrkDuration: Int) {
            self.samples = max(1, samples)
            self.burst = max(1, burst)
            self.insertRows = max(1, insertRows)
            self.insertSessions = max(1, insertSessions)
            self.wrkConnections = wrkConnections
            self.wrkDuration = wrkDuration
        }
    }

    public let parts: Parts
    public let sizes: Sizes
    var webSocketOneAtATime = Samples()
    var webSocketBursts = Samples()
    var burstCount = 0
    /// From the first insert to the last commit.
    var insertTime: Duration?
    /// Nil when wrk is not installed.
    var trivialRoute: WrkResult?

    /// An empty floor: nothing measured, so every ratio reads "no floor measured".
    public init(parts: Parts = [], sizes: Sizes) {
        self.parts = parts
        self.sizes = sizes
    }

    /// Measures `parts` in this process on loopback; each part stops its server and
    /// removes its files before the next begins.
    public static func measure(_ parts: Parts, sizes: Sizes) async throws -> MachineFloor {
        var floor = MachineFloor(parts: parts, sizes: sizes)
        if parts.contains(.webSocket) {
            (floor.webSocketOneAtATime, floor.webSocketBursts, floor.burstCount) = try await measureWebSocket(sizes)
        }
        if parts.contains(.sqliteInserts) {
            floor.insertTime = try await measureInserts(rows: sizes.insertRows, sessions: sizes.insertSessions)
        }
        if parts.contains(.trivialRoute) {
            floor.trivialRoute = try await measureTrivialRoute(connections: sizes.wrkConnections, duration: sizes.wrkDuration)
        }
        return floor
    }

    // MARK: - What the scenarios divide by

    /// "100 at once": how the burst figures are labelled, in the floor and in ratios.
    var burstLabel: String { "\(sizes.burst) at once" }

    /// p99 of a WebSocket connect + round trip with `sizes.burst` started together.
    var webSocketBurstP99: Duration? { webSocketBursts.percentile(99) }

    var insertsPerSecond: Double? {
        guard let insertTime, insertTime > .zero else { return nil }
        return Double(sizes.insertRows) / insertTime.inSeconds
    }

    // MARK: - Report

    public var report: BenchReport {
        var report = BenchReport(scenario: "machine floor", parameters: "raw, no Tether, this machine now; the ratio rows below divide by these")
        if parts.contains(.webSocket) {
            report.add("WebSocket connect + round trip, one at a time, p50", webSocketOneAtATime.ms(50))
            report.add("WebSocket connect + round trip, one at a time, p99", webSocketOneAtATime.ms(99))
            report.add("WebSocket connect + round trip, \(burstLabel), p50", webSocketBursts.ms(50))
            report.add("WebSocket connect + round trip, \(burstLabel), p99", webSocketBursts.ms(99))
            report.add(
                "WebSocket samples",
                "\(webSocketOneAtATime.count) one at a time, \(webSocketBursts.count) in \(burstCount) burst\(burstCount == 1 ? "" : "s") of \(sizes.burst)")
        }
        if parts.contains(.sqliteInserts) {
            let rate = insertsPerSecond.map { String(format: "%.0f rows/s", $0) } ?? "not measured"
            let seconds = insertTime.map { String(format: "%.2f", $0.inSeconds) } ?? "?"
            report.add(
                "raw SQLite inserts: events table and indexes, WAL, synchronous=FULL, \(Self.insertBatchSize) rows per commit",
                "\(rate) (\(sizes.insertRows) in \(seconds) s)")
        }
        if parts.contains(.trivialRoute) {
            let arguments = Wrk.getArguments(url: "", connections: sizes.wrkConnections, duration: sizes.wrkDuration).dropLast().joined(separator: " ")
            report.add("trivial Hummingbird route (GET, fixed JSON), wrk \(arguments)", trivialRoute?.summary ?? "wrk not installed")
        }
        return report
    }
}
