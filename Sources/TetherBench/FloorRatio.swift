import Foundation

/// A scenario's figure set against the same kind of figure on the machine floor:
/// durations as a multiple ("3.1×"), rates as a share ("72 %").
///
/// Always computed from the measured numbers, never from a formatted cell.
enum FloorRatio {
    /// Shown when either side is missing. Deliberately not "n/a": the smoke test reads
    /// "n/a" as a scenario that measured nothing.
    static let missing = "no floor measured"

    /// `value` as a multiple of `floor`: how many floors the scenario's figure is.
    static func times(_ value: Duration?, over floor: Duration?) -> String {
        guard let value, let floor, floor > .zero else { return missing }
        return String(format: "%.1f×", value.inSeconds / floor.inSeconds)
    }

    /// `value` as a percentage of `floor`: how much of the machine's rate Tether keeps.
    static func percent(_ value: Double?, of floor: Double?) -> String {
        guard let value, let floor, floor > 0 else { return missing }
        return String(format: "%.0f %%", value / floor * 100)
    }
}
