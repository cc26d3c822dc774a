import ArgumentParser
import Foundation
import Logging
import TetherBench

struct BenchCommand: AsyncParsableCommand {
    /// Runs this executable with `arguments`, passing its output through.
    func runSelf(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ExitCode(process.terminationStatus) }
    }

    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure detection, recovery, scale, storm, events and api on loopback, and print a table.",
        discussion: """
            Scenarios run real processes: `tether sfu` is started from this binary on a free \
            port and stopped afterwards; sessions run in this process on the engine (or on \
            an in-process `tether serve` for api). Build with -c release for numbers worth \
            recording. --smoke runs every scenario tiny and fast (what the test suite does).
            """
    )

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case detection, recovery, scale, storm, events, api, all
    }

    @Argument(help: "detection, recovery, scale, storm, events, api, or all.")
    var scenario: Scenario

    @Option(help: "Sessions for detection, recovery and storm.")
    var sessions = 1000

    @Option(help: "Rounds of faults for detection and recovery.")
    var rounds = 5

    @Option(help: "Session counts for scale, comma-separated.")
    var scale = "1000,5000,10000"

    @Option(help: "Steady-state window for scale, seconds.")
    var steady = 15

    @Option(help: "Events to insert for events.")
    var events = 1_000_000

    @Option(help: "Reconnect cap per second for storm.")
    var perSecond = 1000

    @Option(help: "Reconnect cap in flight for storm.")
    var inFlight = 256

    @Option(help: "Seconds per wrk run for api.")
    var duration = 10

    @Flag(help: "Tiny sizes, for the test suite: proves each scenario still runs.")
    var smoke = false

    func run() async throws {
        bootstrapLogging(level: .error)
        let chosen = scenario == .all ? Scenario.allCases.filter { $0 != .all } : [scenario]
        for scenario in chosen {
            let report: BenchReport
            switch scenario {
            case .detection:
                report = try await Scenarios.detection(sessions: smoke ? 5 : sessions, rounds: smoke ? 1 : rounds)
            case .recovery:
                report = try await Scenarios.recovery(sessions: smoke ? 5 : sessions, rounds: smoke ? 1 : rounds)
            case .scale:
                let counts = (smoke ? "20" : scale).split(separator: ",").compactMap { Int($0) }
                if counts.count == 1 {
                    print(try await Scenarios.scale(sessions: counts[0], steady: .seconds(smoke ? 1 : steady)).table)
                } else {
                    // One process per size: memory freed by a smaller run would otherwise
                    // be reused by the next and make it look cheaper than it is.
                    for count in counts {
                        try runSelf(["bench", "scale", "--scale", String(count), "--steady", String(smoke ? 1 : steady)])
                    }
                }
                continue
            case .storm:
                report = try await Scenarios.storm(sessions: smoke ? 20 : sessions, perSecond: smoke ? 50 : perSecond, inFlight: smoke ? 8 : inFlight)
            case .events:
                report = try await Scenarios.events(total: smoke ? 2000 : events, sessions: smoke ? 20 : max(1, events / 100), queries: smoke ? 20 : 1000)
            case .api:
                report = try await Scenarios.api(duration: smoke ? 1 : duration, connections: smoke ? 4 : 64)
            case .all:
                continue
            }
            print(report.table)
        }
    }
}
