import Foundation

/// What one `wrk --latency` run reported, as numbers.
struct WrkResult: Sendable {
    var requestsPerSecond: Double
    var p99: Duration
    /// Answers that were neither 2xx nor 3xx; a fast stream of 404s is not a result.
    var non2xxResponses: Int
    /// Every answer wrk counted (its "N requests in T" line).
    var requests: Int

    /// Reads wrk's own report; nil when it has no request rate or no 99th percentile
    /// (wrk failed, or ran without `--latency`).
    init?(report: String) {
        let lines = report.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        func field(_ prefix: String) -> String? {
            lines.first { $0.hasPrefix(prefix) }.map { $0.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) }
        }
        guard let rate = field("Requests/sec:").flatMap(Double.init),
              let p99 = field("99%").flatMap(Self.duration(wrkTime:))
        else { return nil }
        requestsPerSecond = rate
        self.p99 = p99
        non2xxResponses = field("Non-2xx or 3xx responses:").flatMap { Int($0) } ?? 0
        requests = lines.first { $0.contains(" requests in ") }.flatMap { Int($0.prefix { $0 != " " }) } ?? 0
    }

    /// wrk prints latencies as a number and a unit: `562.00us`, `1.20ms`, `1.05s`, `2.00m`.
    static func duration(wrkTime text: String) -> Duration? {
        // Longer suffixes first: "ms" and "us" also end in "s".
        let units: [(suffix: String, nanoseconds: Double)] = [("us", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for unit in units where text.hasSuffix(unit.suffix) {
            guard let value = Double(text.dropLast(unit.suffix.count)) else { return nil }
            return .nanoseconds(Int64(value * unit.nanoseconds))
        }
        return nil
    }

    var summary: String {
        let errors = non2xxResponses > 0 ? " (\(non2xxResponses) answers not 2xx/3xx)" : ""
        return String(format: "%.0f req/s, p99 ", requestsPerSecond) + Samples.ms(p99) + errors
    }
}
