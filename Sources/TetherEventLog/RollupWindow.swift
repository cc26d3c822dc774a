/// How a stats window splits into whole rollup buckets and raw edges: the widest
/// whole buckets (days, then hours, then minutes, all aligned on the epoch, so on UTC
/// days) in the middle, raw events only in the partial minutes at either end.
public struct RollupWindow: Sendable, Equatable {
    /// The spans rollups are kept at, widest first.
    public static let spansMs: [Int64] = [86_400_000, 3_600_000, 60_000]

    public struct Part: Sendable, Equatable {
        public var spanMs: Int64
        /// Bucket starts from `fromMs` (inclusive) to `untilMs` (exclusive).
        public var fromMs: Int64
        public var untilMs: Int64
    }

    /// Whole buckets, each range of one span.
    public var rollups: [Part]
    /// Half-open event-time ranges read from the events themselves.
    public var raw: [Range<Int64>]

    public init(sinceMs: Int64, untilMs: Int64) {
        var rollups: [Part] = []
        var raw: [Range<Int64>] = []
        func split(_ since: Int64, _ until: Int64, spans: ArraySlice<Int64>) {
            guard since < until else { return }
            guard let span = spans.first else {
                raw.append(since..<until)
                return
            }
            let first = Self.ceiling(since, span)
            let last = Self.floor(until, span)
            guard first < last else {
                split(since, until, spans: spans.dropFirst())
                return
            }
            split(since, first, spans: spans.dropFirst())
            rollups.append(Part(spanMs: span, fromMs: first, untilMs: last))
            split(last, until, spans: spans.dropFirst())
        }
        split(sinceMs, untilMs, spans: Self.spansMs[...])
        self.rollups = rollups
        self.raw = raw
    }

    /// The start of the bucket of `span` holding `timeMs` (floor, also below 0).
    public static func floor(_ timeMs: Int64, _ span: Int64) -> Int64 {
        let (quotient, remainder) = timeMs.quotientAndRemainder(dividingBy: span)
        return (remainder < 0 ? quotient - 1 : quotient) * span
    }

    static func ceiling(_ timeMs: Int64, _ span: Int64) -> Int64 {
        let start = floor(timeMs, span)
        // Near Int64.max (an absurd `until`), no whole bucket fits: saturate.
        guard start != timeMs else { return start }
        let (next, overflow) = start.addingReportingOverflow(span)
        return overflow ? .max : next
    }
}
