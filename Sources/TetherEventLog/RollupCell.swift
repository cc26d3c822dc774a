/// The figures of one rollup row (one span, bucket start and node): the events
/// `/v1/stats` counts by type and label, and the recoveries by fine bucket. Stored as
/// one small blob per row, so a week's overview reads a few hundred rows rather than
/// one per label and bucket (measured: 50k rows and 37 ms at 2M events the other way).
///
/// Layout (version 1): a version byte, then a varint entry count and per entry the
/// type and label (varint length + UTF-8) and the count (varint); then a varint
/// bucket count and per bucket its upper bound in ms plus one (0: the overflow) and
/// its count. Bounds, not bucket indexes, so a later change of the buckets still
/// reads old rows (each bound lands in the bucket that holds it).
public struct RollupCell: Sendable, Equatable {
    public struct CountKey: Hashable, Sendable {
        public var type: String
        public var label: String
    }

    public var counts: [CountKey: Int] = [:]
    /// Per ``RecoveryBuckets`` bucket index.
    public var recoveries: [Int: Int] = [:]

    public init() {}

    public mutating func add(type: String, label: String, count: Int) {
        counts[CountKey(type: type, label: label), default: 0] += count
    }

    public mutating func addRecovery(bucket: Int, count: Int) {
        recoveries[bucket, default: 0] += count
    }

    public mutating func merge(_ other: RollupCell) {
        for (key, count) in other.counts { counts[key, default: 0] += count }
        for (bucket, count) in other.recoveries { recoveries[bucket, default: 0] += count }
    }

    static let version: UInt8 = 1

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String { "a stats rollup cell could not be read (not written by this version?)" }
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = [Self.version]
        bytes.reserveCapacity(16 + counts.count * 24 + recoveries.count * 5)
        Self.putVarint(UInt64(counts.count), &bytes)
        for (key, count) in counts {
            Self.putString(key.type, &bytes)
            Self.putString(key.label, &bytes)
            Self.putVarint(UInt64(max(0, count)), &bytes)
        }
        Self.putVarint(UInt64(recoveries.count), &bytes)
        for (bucket, count) in recoveries.sorted(by: { $0.key < $1.key }) {
            let bound = bucket < RecoveryBuckets.upperBounds.count ? UInt64(RecoveryBuckets.upperBounds[bucket]) + 1 : 0
            Self.putVarint(bound, &bytes)
            Self.putVarint(UInt64(max(0, count)), &bytes)
        }
        return bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        try Self.read(bytes) { type, label, count in add(type: type, label: label, count: count) } recovery: { bucket, count in
            addRecovery(bucket: bucket, count: count)
        }
    }

    /// Adds a stored cell's figures to `tally` under `group`, without building a cell.
    public static func add(_ bytes: [UInt8], group: String, to tally: inout StatsTally) throws {
        try read(bytes) { type, label, count in tally.add(group: group, type: type, label: label, count: count) } recovery: { bucket, count in
            tally.addRecoveries(group: group, bucket: bucket, count: count)
        }
    }

    private static func read(
        _ bytes: [UInt8], count countBody: (String, String, Int) -> Void, recovery recoveryBody: (Int, Int) -> Void
    ) throws {
        var offset = 0
        guard bytes.first == version else { throw Malformed() }
        offset = 1
        let entries = try varint(bytes, &offset)
        for _ in 0..<entries {
            let type = try string(bytes, &offset)
            let label = try string(bytes, &offset)
            countBody(type, label, Int(clamping: try varint(bytes, &offset)))
        }
        let buckets = try varint(bytes, &offset)
        for _ in 0..<buckets {
            let bound = try varint(bytes, &offset)
            let bucket = bound == 0 ? RecoveryBuckets.overflow : RecoveryBuckets.index(of: Int64(clamping: bound - 1))
            recoveryBody(bucket, Int(clamping: try varint(bytes, &offset)))
        }
        guard offset == bytes.count else { throw Malformed() }
    }

    private static func putVarint(_ value: UInt64, _ bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private static func putString(_ value: String, _ bytes: inout [UInt8]) {
        putVarint(UInt64(value.utf8.count), &bytes)
        bytes.append(contentsOf: value.utf8)
    }

    private static func varint(_ bytes: [UInt8], _ offset: inout Int) throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            guard shift < 64 else { throw Malformed() }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw Malformed()
    }

    private static func string(_ bytes: [UInt8], _ offset: inout Int) throws -> String {
        let length = Int(clamping: try varint(bytes, &offset))
        guard length <= bytes.count - offset else { throw Malformed() }
        defer { offset += length }
        return String(decoding: bytes[offset..<(offset + length)], as: UTF8.self)
    }
}
