#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address, as a value.
///
/// `.v6` holds the address as two big-endian halves: `::1` is `.v6(0, 1)`, and
/// `2001:db8::` is `.v6(0x2001_0db8_0000_0000, 0)`.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// Parses an IP literal the way the resolver would read the same host string.
    ///
    /// IPv4 follows glibc's `inet_aton` exactly (1 to 4 parts, each decimal, octal or
    /// hex), because `getaddrinfo` turns `127.1` or `0x7f000001` into 127.0.0.1
    /// without any DNS: if we read those as names, an allow-list would not see that
    /// they are loopback. Unlike `inet_aton`, which stops at the first whitespace and
    /// ignores the rest, nothing may follow the address (`getaddrinfo` uses the strict
    /// variant too). IPv6 may be bracketed; zone ids (`%eth0`) are refused.
    /// Host names are never addresses: `localhost` is nil.
    public init?(parsing text: String) {
        // A C string ends at NUL: "::1\0junk" must not reach inet_pton as "::1".
        guard !text.utf8.contains(0) else { return nil }
        if text.hasPrefix("[") || text.utf8.contains(UInt8(ascii: ":")) {
            guard let address = Self.parseIPv6(text) else { return nil }
            self = address
        } else {
            guard let value = Self.parseIPv4(Array(text.utf8)) else { return nil }
            self = .v4(value)
        }
    }

    /// Builds an address from 4 (IPv4) or 16 (IPv6) bytes in network order, as found
    /// in `sockaddr_in.sin_addr` or `sockaddr_in6.sin6_addr`.
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        func fold<Part: FixedWidthInteger & UnsignedInteger>(_ slice: Bytes.SubSequence, into _: Part.Type) -> Part {
            slice.reduce(0) { $0 << 8 | Part($1) }
        }
        switch bytes.count {
        case 4:
            self = .v4(fold(bytes[...], into: UInt32.self))
        case 16:
            let middle = bytes.index(bytes.startIndex, offsetBy: 8)
            self = .v6(fold(bytes[..<middle], into: UInt64.self), fold(bytes[middle...], into: UInt64.self))
        default:
            return nil
        }
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`);
    /// any other address unchanged.
    ///
    /// A dual-stack socket connecting to `::ffff:127.0.0.1` reaches 127.0.0.1, so
    /// policy must judge the two the same.
    public var unmapped: IPAddress {
        if case .v6(0, let low) = self, low >> 32 == 0xffff {
            return .v4(UInt32(truncatingIfNeeded: low))
        }
        return self
    }

    /// Dotted quad for IPv4; RFC 5952 text for IPv6 (lowercase, longest run of two or
    /// more zero groups compressed, mapped addresses as `::ffff:a.b.c.d`).
    public var description: String {
        switch self {
        case .v4(let value):
            return (0..<4).map { String(value >> (24 - 8 * $0) & 0xff) }.joined(separator: ".")
        case .v6(let high, let low):
            // Written by hand rather than with inet_ntop: glibc prints `::2` as
            // `::0.0.0.2`, and messages should read the same on every platform.
            if high == 0, low >> 32 == 0xffff {
                return "::ffff:\(IPAddress.v4(UInt32(truncatingIfNeeded: low)))"
            }
            let groups = (0..<8).map { index -> UInt16 in
                let half = index < 4 ? high : low
                return UInt16(truncatingIfNeeded: half >> (48 - 16 * UInt64(index % 4)))
            }
            var best: Range<Int>?
            var index = 0
            while index < 8 {
                guard groups[index] == 0 else {
                    index += 1
                    continue
                }
                let start = index
                while index < 8, groups[index] == 0 { index += 1 }
                if index - start >= 2, index - start > (best?.count ?? 0) { best = start..<index }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            guard let best else { return hex(0..<8) }
            return hex(0..<best.lowerBound) + "::" + hex(best.upperBound..<8)
        }
    }

    /// glibc's `inet_aton_end` without its tolerance for trailing whitespace: `a`
    /// (32 bits), `a.b` (8.24), `a.b.c` (8.8.16) or `a.b.c.d`; each part starts with a
    /// digit and is read like C's `strtoul(_, _, 0)`.
    private static func parseIPv4(_ text: [UInt8]) -> UInt32? {
        var leadingParts: [UInt64] = []
        var index = 0
        while true {
            guard index < text.count, let first = digit(text[index], radix: 10) else { return nil }
            var radix: UInt64 = 10
            if first == 0 {
                if index + 1 < text.count, text[index + 1] | 0x20 == UInt8(ascii: "x") {
                    radix = 16
                    index += 2
                    // strtoul reads "0x" as 0 and stops at the x, which then fails as
                    // trailing garbage: the same as requiring a hex digit here.
                    guard index < text.count, digit(text[index], radix: 16) != nil else { return nil }
                } else {
                    radix = 8
                }
            }
            var value: UInt64 = 0
            while index < text.count, let next = digit(text[index], radix: radix) {
                value = value * radix + next
                // inet_aton refuses anything past 32 bits; stopping here also keeps
                // the multiplication from overflowing on long inputs.
                if value > 0xffff_ffff { return nil }
                index += 1
            }
            if index == text.count {
                // The last part fills whatever the leading bytes leave.
                let widest: UInt64 = 0xffff_ffff >> (8 * leadingParts.count)
                guard value <= widest else { return nil }
                let leading = leadingParts.enumerated().reduce(UInt64(0)) { $0 | $1.element << (24 - 8 * $1.offset) }
                return UInt32(leading | value)
            }
            guard text[index] == UInt8(ascii: "."), leadingParts.count < 3, value <= 0xff else { return nil }
            leadingParts.append(value)
            index += 1
        }
    }

    private static func digit(_ byte: UInt8, radix: UInt64) -> UInt64? {
        let value: UInt64
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): value = UInt64(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): value = UInt64(byte - UInt8(ascii: "A")) + 10
        default: return nil
        }
        return value < radix ? value : nil
    }

    private static func parseIPv6(_ text: String) -> IPAddress? {
        var inner = Substring(text)
        if inner.hasPrefix("[") {
            guard inner.hasSuffix("]"), inner.count >= 2 else { return nil }
            inner = inner.dropFirst().dropLast()
        }
        // inet_pton refuses `%` as well; saying it here keeps the zone-id rule
        // visible rather than an accident of the C library.
        guard inner.utf8.contains(UInt8(ascii: ":")), !inner.utf8.contains(UInt8(ascii: "%")) else { return nil }
        var storage = in6_addr()
        let parsed = String(inner).withCString { inet_pton(AF_INET6, $0, &storage) }
        guard parsed == 1 else { return nil }
        return withUnsafeBytes(of: storage) { IPAddress(bytes: $0) }
    }
}
