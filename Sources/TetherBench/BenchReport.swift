import Foundation

/// One scenario's results: rows of measure, value and target, printed as a table.
public struct BenchReport: Sendable {
    public struct Row: Sendable {
        public var measure: String
        public var value: String
        public var target: String
    }

    public var scenario: String
    public var parameters: String
    public var rows: [Row] = []

    public mutating func add(_ measure: String, _ value: String, target: String = "") {
        rows.append(Row(measure: measure, value: value, target: target))
    }

    /// A Markdown table (it reads fine in a terminal too).
    public var table: String {
        var lines = ["### \(scenario) (\(parameters))", "", "| measure | value | target |", "|---|---|---|"]
        for row in rows { lines.append("| \(row.measure) | \(row.value) | \(row.target) |") }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Nearest-rank percentiles of durations, printed in milliseconds.
struct Samples {
    private(set) var values: [Duration] = []

    mutating func add(_ value: Duration) { values.append(value) }

    func percentile(_ p: Double) -> Duration? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    func ms(_ p: Double) -> String {
        guard let value = percentile(p) else { return "n/a" }
        return Samples.ms(value)
    }

    static func ms(_ value: Duration) -> String {
        let (seconds, attoseconds) = value.components
        let ms = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return String(format: "%.2f ms", ms)
    }

    var count: Int { values.count }
}

/// What this process uses, from /proc and getrusage.
enum ProcessUsage {
    static func residentBytes(pid: String = "self") -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }

    static func openFileDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// User plus system CPU time of another process, from `/proc/PID/stat` (fields 14
    /// and 15, in clock ticks; counted after the command name's closing parenthesis,
    /// since the name itself may hold spaces).
    static func cpuTime(pid: String) throws -> Duration {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { throw BenchError("no /proc/\(pid)/stat: the process is gone") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
        guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else {
            throw BenchError("unreadable /proc/\(pid)/stat")
        }
        let ticksPerSecond = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return .milliseconds((user + system) * 1000 / max(ticksPerSecond, 1))
    }

    /// User plus system CPU time of this process.
    static func cpuTime() -> Duration {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func duration(_ time: timeval) -> Duration { .seconds(Int64(time.tv_sec)) + .microseconds(Int64(time.tv_usec)) }
        return duration(usage.ru_utime) + duration(usage.ru_stime)
    }
}
