/// The fine, log-scale buckets recovery times are counted in, so that percentiles can
/// be read from per-minute rollups without keeping every duration.
///
/// Each value up to 100 ms has a bucket of its own (exact); above, each bucket's upper
/// bound is at most 4 % above its lower one, and a percentile is reported as its
/// bucket's middle, so it is within ``relativeError`` of the true value. Buckets never
/// straddle a bound of the coarse histogram (``EventStats/histogramBoundsMs``), so the
/// coarse histogram is a sum of fine buckets and stays exact.
public enum RecoveryBuckets {
    /// The largest relative error of a percentile read from the buckets (up to ``capMs``).
    public static let relativeError = 0.02

    /// The last bound: a longer recovery (more than a day) is counted in the overflow
    /// bucket, reported as this value.
    public static let capMs: Int64 = 86_400_000

    /// Inclusive upper bounds, ascending; the overflow bucket (`upperBounds.count`) has none.
    public static let upperBounds: [Int64] = {
        var bounds = Array(Int64(0)...100)
        let coarse = EventStats.histogramBoundsMs.filter { $0 > 100 } + [capMs]
        var next = 0
        while let last = bounds.last, last < capMs {
            // hi ≤ 1.04 · lo keeps the middle within 2 % of anything in (lo, hi].
            var bound = max(last + 1, last * 104 / 100)
            while next < coarse.count, coarse[next] <= last { next += 1 }
            if next < coarse.count, bound > coarse[next] { bound = coarse[next] }
            bounds.append(bound)
        }
        return bounds
    }()

    public static var overflow: Int { upperBounds.count }

    /// The bucket of a duration; a missing or negative one counts as the overflow and 0.
    public static func index(of durationMs: Int64?) -> Int {
        guard let durationMs else { return overflow }
        let value = max(0, durationMs)
        if value <= 100 { return Int(value) }
        // The first bound at or above the value.
        var (low, high) = (101, upperBounds.count)
        while low < high {
            let middle = (low + high) / 2
            if upperBounds[middle] >= value { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// What a percentile falling in bucket `index` is reported as: the middle of the
    /// bucket (its only value up to 100 ms).
    public static func representative(of index: Int) -> Int64 {
        guard index < upperBounds.count else { return capMs }
        let high = upperBounds[index]
        let low = index == 0 ? high : upperBounds[index - 1] + 1
        return (low + high) / 2
    }

    /// The coarse histogram's bucket holding fine bucket `index`.
    public static func coarseIndex(of index: Int) -> Int {
        guard index < upperBounds.count else { return EventStats.histogramBoundsMs.count }
        let bound = upperBounds[index]
        return EventStats.histogramBoundsMs.firstIndex { $0 >= bound } ?? EventStats.histogramBoundsMs.count
    }
}
