import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import TetherTestSupport

/// A fleet of real `tether serve` processes sharing one PostgreSQL database, with one
/// SFU simulator: what the fleet tests start, watch and stop.
final class FleetHarness: @unchecked Sendable {
    struct Member {
        var process: ChildProcess
        var base: String
    }

    let database: String
    private let cleanup: @Sendable () -> Void
    let sfu: Simulator
    let ttl: String
    private(set) var members: [String: Member] = [:]
    /// Processes a wrapper started (faketime's child): killed with the fleet.
    var helperPIDs: [Int32] = []

    private init(database: String, cleanup: @escaping @Sendable () -> Void, sfu: Simulator, ttl: String) {
        self.database = database
        self.cleanup = cleanup
        self.sfu = sfu
        self.ttl = ttl
    }

    /// A new database on the test cluster, a simulator, and `instances` serving on it.
    /// `database`: a cluster of the test's own (one it restarts); else a new database
    /// on the shared test cluster.
    static func start(_ instances: [String], ttl: String = "6s", database own: String? = nil, extra: [String] = []) async throws -> FleetHarness {
        let (database, cleanup) = try own.map { ($0, {}) } ?? StoreKind.postgres.makeDatabase()
        let fleet = FleetHarness(database: database, cleanup: cleanup, sfu: try await Simulator.start(), ttl: ttl)
        do {
            for id in instances { try await fleet.startInstance(id, extra: extra) }
            try await fleet.waitForServing(instances)
        } catch {
            await fleet.stop()
            throw error
        }
        return fleet
    }

    /// A fleet for `body`: stopped whatever happens, its instances' output printed when
    /// the body throws.
    static func run(
        _ instances: [String], ttl: String = "6s", database: String? = nil, extra: [String] = [],
        _ body: (FleetHarness) async throws -> Void
    ) async throws {
        let fleet = try await start(instances, ttl: ttl, database: database, extra: extra)
        do {
            try await body(fleet)
        } catch {
            print(fleet.logs())
            await fleet.stop()
            throw error
        }
        await fleet.stop()
    }

    /// Starts (or restarts) instance `id`; `database` replaces the fleet's URL (a proxy).
    /// Health checks keep their defaults (every 5 s, 15 s to answer): no test here is
    /// about them, and on two busy cores a tighter timeout fires now and then, and the
    /// FAST resume that follows shows at the simulator as a takeover of a socket that
    /// is still open.
    func startInstance(_ id: String, database: String? = nil, extra: [String] = []) async throws {
        let process = try ChildProcess([
            "serve", "--port", "0", "--db", database ?? self.database, "--instance-id", id, "--lease-ttl", ttl,
            "--log-level", "notice",
            "--disconnection-timeout", "30s", "--shutdown-grace", "15s",
        ] + extra, capturesStandardError: true)
        members[id] = Member(process: process, base: try await process.waitForServeAddress(timeout: .seconds(30)))
    }

    /// Starts instance `id` under Debian's `faketime` with its clock `offset` (e.g.
    /// "+60s") from the machine's; returns the server's own PID (faketime forks it).
    func startSkewedInstance(_ id: String, offset: String) async throws -> Int32 {
        let process = try ChildProcess([
            "-f", offset, ChildProcess.tetherBinary.path,
            "serve", "--port", "0", "--db", database, "--instance-id", id, "--lease-ttl", ttl,
            "--log-level", "notice",
            "--disconnection-timeout", "30s", "--shutdown-grace", "15s",
        ], executable: URL(fileURLWithPath: "/usr/bin/faketime"), capturesStandardError: true)
        members[id] = Member(process: process, base: try await process.waitForServeAddress(timeout: .seconds(30)))
        let child = try #require(Self.children(of: process.pid).first, "faketime's child")
        helperPIDs.append(child)
        return child
    }

    /// The PIDs whose parent is `pid` (from /proc).
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let candidate = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? candidate : nil
        }
    }

    func base(_ id: String) -> String { members[id]!.base }
    func process(_ id: String) -> ChildProcess { members[id]!.process }

    /// The instances as `GET /v1/instances` on `via` shows them, by id.
    func instances(via id: String) async throws -> [String: [String: Any]] {
        let (_, body) = try await callURL(.GET, base(id) + "/v1/instances")
        let list = body["instances"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: list.compactMap { entry in (entry["id"] as? String).map { ($0, entry) } })
    }

    func waitForServing(_ ids: [String], via: String? = nil, timeout: Duration = .seconds(30)) async throws {
        let via = via ?? ids[0]
        _ = try await pollUntil(timeout: timeout) {
            let instances = try await self.instances(via: via)
            return ids.allSatisfy { instances[$0]?["state"] as? String == "serving" } ? true : nil
        }
    }

    /// Creates `count` sessions through `id`'s API, `parallel` at a time; their ids.
    func createSessions(_ count: Int, via id: String, parallel: Int = 8) async throws -> [String] {
        let url = base(id) + "/v1/sessions"
        let sfuURL = sfu.url
        return try await withThrowingTaskGroup(of: String.self) { group in
            var ids: [String] = []
            var started = 0
            func add() {
                group.addTask {
                    let (status, session) = try await callURL(.POST, url, json: createBody(urls: [sfuURL]))
                    guard status == 201, let id = session["id"] as? String else {
                        throw FleetTestError(description: "create answered \(status): \(session)")
                    }
                    return id
                }
                started += 1
            }
            while started < min(parallel, count) { add() }
            while let id = try await group.next() {
                ids.append(id)
                if started < count { add() }
            }
            return ids
        }
    }

    /// Every session, by id, as `via` lists them.
    func sessions(via id: String) async throws -> [String: [String: Any]] {
        let (_, body) = try await callURL(.GET, base(id) + "/v1/sessions?limit=1000")
        let list = body["sessions"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: list.compactMap { entry in (entry["id"] as? String).map { ($0, entry) } })
    }

    func events(of session: String, via id: String) async throws -> [[String: Any]] {
        try await callURL(.GET, base(id) + "/v1/sessions/\(session)/events?limit=1000").1["events"] as? [[String: Any]] ?? []
    }

    /// The value of counter `name` in `id`'s `/metrics` (0 when absent).
    func metric(_ name: String, of id: String) async throws -> Double {
        var request = HTTPClientRequest(url: base(id) + "/metrics")
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 4 << 20))
        return text.split(separator: "\n").filter { $0.hasPrefix(name) }.compactMap { line in
            line.split(separator: " ").last.flatMap { Double($0) }
        }.reduce(0, +)
    }

    /// Every instance's output, for a failing test's report.
    func logs() -> String {
        members.sorted { $0.key < $1.key }.map { "--- \($0.key)\n" + $0.value.process.output.suffix(60).joined(separator: "\n") }
            .joined(separator: "\n")
    }

    func stop() async {
        for pid in helperPIDs { kill(pid, SIGKILL) }
        for member in members.values { await member.process.stop() }
        members = [:]
        await sfu.stop()
        cleanup()
    }
}

struct FleetTestError: Error, CustomStringConvertible {
    var description: String
}
