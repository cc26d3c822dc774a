import Foundation
import NIOConcurrencyHelpers

public struct PostgresClusterError: Error, CustomStringConvertible {
    public let description: String
}

/// The PostgreSQL cluster the tests run against, and throwaway databases on it.
public enum PostgresCluster {
    private enum State {
        case notStarted
        case running(url: String)
        case failed(String)
    }

    private static let state = NIOLockedValueBox<State>(.notStarted)
    /// The directory of the cluster this process started, for the exit handler to stop.
    private static let ownedDirectory = NIOLockedValueBox<String?>(nil)

    static let script: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("scripts/postgres-cluster").path
    }()

    /// The URL of the maintenance database of the test cluster: `TETHER_TEST_POSTGRES` when
    /// set (scripts/test starts one cluster for the whole run and exports it), else a cluster
    /// this process starts once with scripts/postgres-cluster in a temp dir and stops when the
    /// process exits (atexit). Throws (never skips) when PostgreSQL cannot start.
    public static func maintenanceURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["TETHER_TEST_POSTGRES"], !url.isEmpty { return url }
        // Held for the whole start, so concurrent tests wait for the one cluster rather
        // than each starting their own.
        return try state.withLockedValue { state in
            switch state {
            case .running(let url): return url
            // A start that failed once would fail again, slowly, for every test.
            case .failed(let message): throw PostgresClusterError(description: message)
            case .notStarted: break
            }
            // Under /tmp rather than $TMPDIR: as root the cluster runs as the postgres user,
            // which must reach the directory, and its socket path must fit in 107 bytes.
            let directory = "/tmp/tether-pg-\(getpid())-\(randomHex())"
            let (status, output) = try run(script, ["start", directory])
            guard status == 0, let url = try? String(contentsOfFile: directory + "/url", encoding: .utf8) else {
                let message = "PostgreSQL did not start (scripts/postgres-cluster exited \(status)):\n\(output)"
                state = .failed(message)
                _ = try? run(script, ["stop", directory])
                throw PostgresClusterError(description: message)
            }
            let trimmed = url.trimmingCharacters(in: .whitespacesAndNewlines)
            ownedDirectory.withLockedValue { $0 = directory }
            atexit { PostgresCluster.stopOwnedCluster() }
            state = .running(url: trimmed)
            return trimmed
        }
    }

    /// A new, empty database on the test cluster (CREATE DATABASE t_<random hex>) and its URL.
    public static func createDatabase() throws -> String {
        let maintenance = try maintenanceURL()
        let name = "t_\(randomHex())"
        let (status, output) = try psql(maintenance, "CREATE DATABASE \(name)")
        guard status == 0 else {
            throw PostgresClusterError(description: "CREATE DATABASE \(name) failed (psql exited \(status)):\n\(output)")
        }
        guard var components = URLComponents(string: maintenance) else {
            throw PostgresClusterError(description: "not a URL: \(maintenance)")
        }
        components.path = "/" + name
        return components.string!
    }

    /// The names of the databases on the test cluster.
    public static func databaseNames() throws -> [String] {
        let (status, output) = try psql(try maintenanceURL(), "SELECT datname FROM pg_database", tuplesOnly: true)
        guard status == 0 else { throw PostgresClusterError(description: "listing databases failed (psql exited \(status)):\n\(output)") }
        return output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Drops it (best effort, `DROP DATABASE … WITH (FORCE)`).
    public static func dropDatabase(_ url: String) {
        guard let name = URLComponents(string: url)?.path.dropFirst(), !name.isEmpty, name != "postgres",
            let maintenance = try? maintenanceURL()
        else { return }
        let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        _ = try? psql(maintenance, "DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
    }

    private static func stopOwnedCluster() {
        guard let directory = ownedDirectory.withLockedValue({ $0 }) else { return }
        _ = try? run(script, ["stop", directory])
    }

    private static func psql(_ url: String, _ sql: String, tuplesOnly: Bool = false) throws -> (status: Int32, output: String) {
        // The versioned binary first: /usr/bin/psql is Debian's Perl wrapper around it.
        let versioned = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
            .map { "/usr/lib/postgresql/\($0)/bin/psql" }
        guard let executable = (versioned + ["/usr/bin/psql"]).first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw PostgresClusterError(description: "psql not found (install Debian's postgresql-client)")
        }
        // A server that stopped answering must fail the test, not hang it.
        return try run(
            executable, ["-X", "-q", "-v", "ON_ERROR_STOP=1"] + (tuplesOnly ? ["-t", "-A"] : []) + ["-d", url, "-c", sql],
            environment: ["PGCONNECT_TIMEOUT": "10"])
    }

    /// Runs a program to completion and returns its exit status and its stdout and stderr together.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func randomHex() -> String {
        String(format: "%016llx", UInt64.random(in: .min ... .max))
    }
}
