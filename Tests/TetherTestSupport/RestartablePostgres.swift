import Foundation

/// A PostgreSQL cluster of one test's own, which the test may crash and start again
/// (scripts/postgres-cluster halt/resume) without disturbing the shared test cluster.
public final class RestartablePostgres: Sendable {
    /// postgres://tether@127.0.0.1:PORT/postgres; the port survives a halt and a resume.
    public let url: String
    private let directory: String

    private init(url: String, directory: String) {
        self.url = url
        self.directory = directory
    }

    public static func start() throws -> RestartablePostgres {
        let directory = "/tmp/tether-pg-own-\(getpid())-\(PostgresCluster.randomHex())"
        let (status, output) = try PostgresCluster.run(PostgresCluster.script, ["start", directory])
        guard status == 0, let url = try? String(contentsOfFile: directory + "/url", encoding: .utf8) else {
            _ = try? PostgresCluster.run(PostgresCluster.script, ["stop", directory])
            throw PostgresClusterError(description: "PostgreSQL did not start (scripts/postgres-cluster exited \(status)):\n\(output)")
        }
        return RestartablePostgres(url: url.trimmingCharacters(in: .whitespacesAndNewlines), directory: directory)
    }

    /// Stops the server the way a crash would (`pg_ctl -m immediate`), keeping its data.
    public func halt() throws { try call("halt") }

    /// Starts it again on the same port, recovering from its WAL.
    public func resume() throws { try call("resume") }

    /// Stops it and removes its directory; safe to call more than once.
    public func stop() {
        _ = try? PostgresCluster.run(PostgresCluster.script, ["stop", directory])
    }

    private func call(_ command: String) throws {
        let (status, output) = try PostgresCluster.run(PostgresCluster.script, [command, directory])
        guard status == 0 else {
            throw PostgresClusterError(description: "scripts/postgres-cluster \(command) exited \(status):\n\(output)")
        }
    }
}
