import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TetherBench
import TetherPostgresStore

struct BenchCommand: AsyncParsableCommand {
    /// Runs this executable with `arguments`, passing its output through.
    func runSelf(_ arguments: [String]) throws {
        // Tables printed so far (the floor's first) sit in this process's buffer when
        // stdout is a pipe; out they go (fflush(nil): every stream) before the child
        // writes its own.
        fflush(nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ExitCode(process.terminationStatus) }
    }

    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure detection, recovery, scale, serve, storm, events, stats, api, webhooks and fleet on loopback, and print a table.",
        discussion: """
            Scenarios run real processes: `tether sfu` is started from this binary on a free \
            port and stopped afterwards; sessions run in this process on the engine (or on \
            an in-process `tether serve` for api). Build with -c release for numbers worth \
            recording. --smoke runs every scenario tiny and fast (what the test suite does).

            Absolute numbers only compare on one machine, so each invocation first measures \
            a machine floor, once for all the scenarios it runs, and prints it as the first \
            table: a raw WebSocket echo on loopback (connect, upgrade, one text frame and its \
            echo; --floor-samples one at a time, then as many in bursts of 100 at once) for detection, \
            recovery, storm and scale; raw SQLite inserts through GRDB with the event log's \
            pragmas (WAL, synchronous=FULL, 20,000 rows per commit, the events table and \
            indexes, as many rows as --events) for events; and a bare Hummingbird route \
            under wrk with the api scenario's own arguments for api ("wrk not installed" \
            when it is missing). Each scenario's table then adds ratio rows next to its \
            absolute ones: its p99 as a multiple of the WebSocket floor, its storm time \
            against sessions ÷ cap plus that floor, its insert and request rates as a \
            percentage of the raw SQLite and trivial-route floors. detection also measures a \
            floor of its own size: --sessions raw TCP connections closed at once by their \
            server, each client's close timed. webhooks has no floor: it \
            reports delivery throughput at each --webhook-pending size and a healthy \
            endpoint's lateness beside one that never answers, against a local sink. stats \
            spreads --events over --stats-days of event time, times the console's overview \
            and narrower /v1/stats windows, then drops the rollups and times the migration \
            that fills them again at start (no floor: its targets are absolute). fleet \
            (with --db) runs --fleet-instances real `tether serve` processes on a database of \
            its own, --fleet-sessions each, kills one with kill -9 and times the adoption of \
            its sessions, counting SFU connections per adopted session, overlaps at the \
            simulator, and the rows the leases update in a steady window. serve starts a \
            whole `tether serve` (SQLite file, loopback) and two simulator processes, creates \
            --sessions through its API and reports its RSS growth per session and its CPU \
            over --steady seconds once they are joined (no floor: per-session figures).
            """
    )

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case detection, recovery, scale, serve, storm, events, stats, api, webhooks, fleet, all
    }

    @Argument(help: "detection, recovery, scale, serve, storm, events, stats, api, webhooks, fleet (needs --db), or all (fleet only with --db).")
    var scenario: Scenario

    @Option(help: "Sessions for detection, recovery, serve and storm.")
    var sessions = 1000

    @Option(help: "Rounds of faults for detection and recovery.")
    var rounds = 5

    @Option(help: "Session counts for scale, comma-separated.")
    var scale = "1000,5000,10000"

    @Option(help: "Steady-state window for scale and serve, seconds.")
    var steady = 15

    @Option(help: "Events to insert for events.")
    var events = 1_000_000

    @Option(help: "Days of event time stats spreads its --events over (every minute of them holds events).")
    var statsDays = 7

    @Option(help: "Reconnect cap per second for storm.")
    var perSecond = 1000

    @Flag(inversion: .prefixedNo, help: "Storm with node-restart detection (as `tether serve` runs); --no-restart-detection shows what it saves.")
    var restartDetection = true

    @Option(help: "Reconnect cap in flight for storm.")
    var inFlight = 256

    @Option(help: "Calls storm's sessions are spread over (each rejoin is announced to its call's other participants: fewer calls, more notices per rejoin).")
    var stormCalls = 100

    @Option(help: "Pending webhook deliveries for webhooks' throughput runs, comma-separated.")
    var webhookPending = "0,10000,300000"

    @Option(help: "Deliveries timed in each webhooks throughput run.")
    var webhookMeasured = 10_000

    @Option(help: "Sessions for webhooks' lateness runs (one webhook each a second, for 5 s).")
    var webhookSessions = 300

    @Option(help: "Instances for fleet.")
    var fleetInstances = 3

    @Option(help: "Sessions per instance for fleet.")
    var fleetSessions = 5000

    @Option(help: "Participants per call for fleet (each join and leave is announced to the call's others).")
    var fleetCallSize = 4

    @Option(help: "--lease-ttl of fleet's instances, seconds.")
    var fleetLeaseTTL = 10

    @Option(help: "Seconds per wrk run for api.")
    var duration = 10

    @Option(help: "WebSocket samples for the machine floor: this many one at a time, and at least as many in bursts of 100.")
    var floorSamples = 200

    @Option(help: "A PostgreSQL server (postgres://user[:password]@host[:port]/dbname) for events, stats and api to run on as well: each run makes a database of its own there (the role needs CREATEDB) and drops it. events then measures the PostgreSQL store against a raw postgres-nio floor; api sets its GET figure against SQLite's in the same run. The password may also come from PGPASSWORD.")
    var db: String?

    @Flag(help: "Tiny sizes, for the test suite: proves each scenario still runs.")
    var smoke = false

    /// Set on the child processes that run scale, one size each: their parent printed
    /// the floor, and measuring it again would leave freed memory for the sessions.
    @Flag(help: .hidden)
    var noFloor = false

    /// The floor parts a scenario's ratio rows divide by. Scale has no ratios (CPU and
    /// memory per session are relative already); it gets the WebSocket floor for context.
    static func floorParts(for scenario: Scenario) -> MachineFloor.Parts {
        switch scenario {
        case .detection, .recovery, .storm, .scale: .webSocket
        case .events: .sqliteInserts
        case .api: .trivialRoute
        case .serve, .stats, .webhooks, .fleet, .all: []
        }
    }

    @Option(name: .customLong("otel-endpoint"), help: "Trace (and export metrics) as `tether serve --otel-endpoint` does, to this OTLP/HTTP base URL: detection, recovery and api then measure tracing's cost.")
    var otelEndpoint: String?

    func run() async throws {
        bootstrapLogging(level: .error)
        let export: OpenTelemetryExport?
        do {
            export = try OpenTelemetryExport.bootstrap(endpoint: otelEndpoint, environment: [:], logger: Logger(label: "tether.otel"))
        } catch {
            throw ValidationError("\(error)")
        }
        // The exporters' work runs for the whole command; cancelled at its end.
        let exporters = export.map { export in
            Task { try await ServiceGroup(configuration: .init(services: export.services, logger: Logger(label: "tether.otel"))).run() }
        }
        defer { exporters?.cancel() }
        let chosen = scenario == .all ? Scenario.allCases.filter { $0 != .all && ($0 != .fleet || db != nil) } : [scenario]
        if scenario == .fleet, db == nil { throw ValidationError("fleet needs --db: a PostgreSQL server the instances share") }
        // Sizes the floor shares with the scenarios it is compared with.
        let eventCount = smoke ? 2000 : events
        let eventSessions = smoke ? 20 : max(1, events / 100)
        let wrkDuration = smoke ? 1 : duration
        let wrkConnections = smoke ? 4 : 64
        let sizes = MachineFloor.Sizes(
            samples: smoke ? 20 : floorSamples, burst: smoke ? 10 : 100,
            insertRows: eventCount, insertSessions: eventSessions,
            wrkConnections: wrkConnections, wrkDuration: wrkDuration)
        var floor = MachineFloor(sizes: sizes)
        let parts = chosen.reduce(into: MachineFloor.Parts()) { $0.formUnion(Self.floorParts(for: $1)) }
        if !noFloor, !parts.isEmpty {
            floor = try await MachineFloor.measure(parts, sizes: sizes)
            print(floor.report.table)
        }
        var postgres: PostgresURL?
        if let db {
            do {
                var url = try PostgresURL(parsing: db)
                if url.password == nil { url.password = ProcessInfo.processInfo.environment["PGPASSWORD"] }
                postgres = url
            } catch {
                throw ValidationError("--db: \(error)")
            }
        }
        for scenario in chosen {
            let report: BenchReport
            switch scenario {
            case .detection:
                report = try await Scenarios.detection(sessions: smoke ? 5 : sessions, rounds: smoke ? 1 : rounds, floor: floor)
            case .recovery:
                report = try await Scenarios.recovery(sessions: smoke ? 5 : sessions, rounds: smoke ? 1 : rounds, floor: floor)
            case .scale:
                let counts = (smoke ? "20" : scale).split(separator: ",").compactMap { Int($0) }
                if noFloor, counts.count == 1 {
                    print(try await Scenarios.scale(sessions: counts[0], steady: .seconds(smoke ? 1 : steady)).table)
                } else {
                    // One fresh process per size: memory freed by a smaller run, by the
                    // floor or by an earlier scenario would otherwise be reused by the
                    // sessions and make them look cheaper than they are.
                    for count in counts {
                        try runSelf(["bench", "scale", "--scale", String(count), "--steady", String(smoke ? 1 : steady), "--no-floor"])
                    }
                }
                continue
            case .serve:
                report = try await Scenarios.serve(
                    sessions: smoke ? 20 : sessions, steady: .seconds(smoke ? 1 : steady), settle: smoke ? .milliseconds(500) : .seconds(5))
            case .storm:
                report = try await Scenarios.storm(
                    sessions: smoke ? 20 : sessions, perSecond: smoke ? 50 : perSecond, inFlight: smoke ? 8 : inFlight,
                    restartDetection: restartDetection, calls: smoke ? 4 : stormCalls, floor: floor)
            case .events:
                report = try await Scenarios.events(
                    total: eventCount, sessions: eventSessions, queries: smoke ? 20 : 1000, floor: floor, postgres: postgres)
            case .stats:
                report = try await Scenarios.stats(
                    total: eventCount, days: smoke ? 1 : statsDays, sessions: eventSessions, queries: smoke ? 5 : 200, postgres: postgres)
            case .api:
                report = try await Scenarios.api(
                    duration: wrkDuration, connections: wrkConnections, floor: floor, postgres: postgres, telemetry: export?.telemetry)
            case .webhooks:
                report = try await Scenarios.webhooks(
                    pending: (smoke ? "0,500" : webhookPending).split(separator: ",").compactMap { Int($0) },
                    measured: smoke ? 200 : webhookMeasured, sessions: smoke ? 20 : webhookSessions, rounds: smoke ? 2 : 5)
            case .fleet:
                guard let postgres else { continue }
                report = try await Scenarios.fleet(
                    maintenance: postgres, instances: smoke ? 3 : fleetInstances, perInstance: smoke ? 20 : fleetSessions, callSize: fleetCallSize,
                    leaseTTL: .seconds(smoke ? 4 : fleetLeaseTTL), steady: .seconds(smoke ? 2 : 10))
            case .all:
                continue
            }
            print(report.table)
        }
    }
}
