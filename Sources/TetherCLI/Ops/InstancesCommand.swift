import ArgumentParser
import Foundation

/// `tether instances`: the fleet that shares the service's PostgreSQL database.
struct InstancesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instances",
        abstract: "List the fleet's instances and their leases (a PostgreSQL-backed service; none on SQLite).",
        discussion: "Exit codes: 0 done, 1 the API answered an error (its code is printed), 4 the service is unreachable.")

    @OptionGroup var ops: OpsOptions

    func run() async throws {
        try await OpsClient.run {
            let list = try await ops.client.get("/v1/instances", query: [])
            if ops.json {
                OpsPrint.json(list)
                return
            }
            let instances = list["instances"] as? [[String: Any]] ?? []
            if instances.isEmpty {
                print("no fleet: this service keeps its history in SQLite (one process owns every session)")
                return
            }
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            let this = list["this_instance"] as? String
            OpsPrint.table(
                ["ID", "STATE", "SESSIONS", "CAPACITY", "LEASE", "RENEWED", "INCARNATION", "ADDRESS"],
                instances.map { instance in
                    let id = instance["id"] as? String ?? "-"
                    let expires = (instance["lease_expires_at_ms"] as? NSNumber)?.int64Value ?? nowMs
                    let renewed = (instance["last_renewal_at_ms"] as? NSNumber)?.int64Value ?? nowMs
                    return [
                        id == this ? id + " *" : id, instance["state"] as? String ?? "-", "\(instance["sessions"] ?? 0)",
                        "\(instance["capacity"] ?? 0)", Self.relative(expires - nowMs), Self.relative(renewed - nowMs),
                        "\(instance["incarnation"] ?? "-")", instance["address"] as? String ?? "-",
                    ]
                })
            if this != nil { print("* the instance that answered") }
        }
    }

    /// "in 8.2s" or "3.1s ago" (times on the database's clock, read against this one's).
    static func relative(_ deltaMs: Int64) -> String {
        let seconds = String(format: "%.1fs", Double(abs(deltaMs)) / 1000)
        return deltaMs >= 0 ? "in \(seconds)" : "\(seconds) ago"
    }
}
