import Foundation

/// The ranges a number from a peer (an SFU) must fall in before it becomes a
/// `Duration`, a size or a count.
///
/// `Duration` and `ContinuousClock.Instant` arithmetic traps on overflow, and a trap
/// takes every session of the process with it: an SFU that announces a window of
/// `Int64.max` seconds must cost its own session a recorded `sfu_error{bad_value}`,
/// never the process. Each number is read here, checked, and clamped.
public enum PeerLimits {
    /// The longest fast-reconnect window an SFU may announce (Stream's
    /// `fast_reconnect_deadline_seconds`, Janus's `reclaim-session-timeout`): 10 min.
    public static let maxFastReconnectWindowSeconds: Int64 = 600
    /// The longest idle timeout an SFU may announce (Janus's `session-timeout`): a day.
    /// 0 means "never expires" and is taken as said.
    public static let maxSessionTimeoutSeconds: Int64 = 86_400
    /// The shortest non-zero idle timeout taken: a third of it becomes the keepalive
    /// interval, and an SFU must not make Tether health-check many times a second.
    public static let minSessionTimeoutSeconds: Int64 = 3
    /// Ids from a peer (a Janus participant id with `string_ids`) longer than this are
    /// not kept: an id is a name, not a payload.
    public static let maxIDLength = 256

    /// A whole number of seconds read from a peer's JSON value, checked against `range`.
    public struct Seconds: Equatable, Sendable {
        /// The value to use: in `range`, or nil when the peer said nothing usable.
        public var value: Int64?
        /// Why the value was clamped or ignored, in words for the history; nil when it was fine.
        public var problem: String?
    }

    /// Reads `raw` (an `NSNumber` from `JSONSerialization`, or anything else) as seconds.
    /// Missing or not a number: nil, no problem (the peer did not say). Negative,
    /// fractional-infinite or absurd: clamped into `range` (or dropped when negative),
    /// with the problem named after `field`.
    public static func seconds(_ raw: Any?, field: String, range: ClosedRange<Int64>) -> Seconds {
        // JSONSerialization hands booleans over as NSNumbers of type "c".
        guard let raw, let number = raw as? NSNumber, String(cString: number.objCType) != "c" else {
            return Seconds(value: nil, problem: raw == nil || raw is NSNull ? nil : "\(field) is not a number; ignored")
        }
        let double = number.doubleValue
        guard double.isFinite else { return Seconds(value: nil, problem: "\(field) is not finite; ignored") }
        if double < 0 {
            return Seconds(value: nil, problem: "\(field) \(Self.describe(number)) is negative; ignored")
        }
        // Compare as Double first: Int64(exactly:) of a huge value is nil, never a trap.
        if double > Double(range.upperBound) {
            return Seconds(
                value: range.upperBound,
                problem: "\(field) \(Self.describe(number)) is above \(range.upperBound) s; clamped to \(range.upperBound) s")
        }
        let whole = Int64(double.rounded(.down))
        if whole < range.lowerBound {
            return Seconds(
                value: range.lowerBound,
                problem: "\(field) \(Self.describe(number)) is below \(range.lowerBound) s; raised to \(range.lowerBound) s")
        }
        return Seconds(value: whole, problem: nil)
    }

    /// Clamps a window announced in a protobuf integer field.
    public static func fastReconnectWindow(seconds: Int64, field: String) -> Seconds {
        seconds <= 0
            ? Seconds(value: nil, problem: nil)
            : Self.seconds(NSNumber(value: seconds), field: field, range: 0...maxFastReconnectWindowSeconds)
    }

    /// A peer's id as text, or nil when it is too long to be an id.
    public static func id(_ text: String?) -> String? {
        guard let text, text.utf8.count <= maxIDLength else { return nil }
        return text
    }

    private static func describe(_ number: NSNumber) -> String {
        let text = number.stringValue
        return text.count > 40 ? String(text.prefix(40)) + "…" : text
    }
}
