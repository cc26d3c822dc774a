import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TetherTestSupport

/// `deploy/grafana/tether.json` may query only what `/metrics` exports, on the plainest
/// serve (SQLite, no webhook, no fleet): a renamed or dropped metric fails here, not
/// on an operator's empty panel.
@Suite(.timeLimit(.minutes(2))) struct DashboardTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every `tether_*` name in the panels' queries, histogram suffixes taken off.
    static func queriedMetrics() throws -> (panels: [String], metrics: Set<String>) {
        let data = try Data(contentsOf: root.appendingPathComponent("deploy/grafana/tether.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        var metrics: Set<String> = []
        for panel in panels {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                let expression = try #require(target["expr"] as? String)
                for match in expression.matches(of: /tether_[a-z_]+/) {
                    var name = String(match.0)
                    for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                        name = String(name.dropLast(suffix.count))
                    }
                    metrics.insert(name)
                }
            }
        }
        return (panels.compactMap { $0["title"] as? String }, metrics)
    }

    @Test func everyMetricAPanelQueriesIsExportedByAPlainServe() async throws {
        let (panels, queried) = try Self.queriedMetrics()
        // The panels the issue asked for, by title.
        for title in ["Sessions by state", "Losses by reason", "Reconnects by strategy and outcome", "Recovery time",
                      "Webhook backlog", "History writer", "HTTP requests", "HTTP errors and latency"] {
            #expect(panels.contains(title), "no \(title) panel")
        }
        #expect(queried.count >= 10, "\(queried)")

        let database = FileManager.default.temporaryDirectory.appendingPathComponent("tether-dashboard-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: database + suffix) } }
        let serve = try ChildProcess(["serve", "--port", "0", "--db", database, "--log-level", "warning"])
        let base = try await serve.waitForServeAddress()
        // One answered request, so the HTTP series exist (they are made per route).
        #expect(try await callURL(.GET, base + "/v1/sessions").0 == 200)
        let exposition = try await metricsText(base)
        let exported = Set(exposition.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("# TYPE ") else { return nil }
            return line.split(separator: " ").dropFirst(2).first.map(String.init)
        })
        for metric in queried.sorted() {
            #expect(exported.contains(metric), "the dashboard queries \(metric); /metrics exports \(exported.sorted())")
        }
        await serve.stop()
    }

    func metricsText(_ base: String) async throws -> String {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/metrics"), timeout: .seconds(30))
        #expect(response.status == .ok)
        return String(buffer: try await response.body.collect(upTo: 4 << 20))
    }
}
