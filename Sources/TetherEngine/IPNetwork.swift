/// A CIDR block such as `10.0.0.0/8` or `fd00::/8`.
///
/// Membership is judged on `IPAddress.unmapped`, so `10.0.0.0/8` contains
/// `::ffff:10.2.3.4`, and a block written in the mapped range
/// (`::ffff:10.0.0.0/104`) is stored as the IPv4 block it means (`10.0.0.0/8`).
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the block: host bits below the prefix are zero.
    public let address: IPAddress
    public let prefixLength: Int

    /// A block of `prefixLength` leading bits of `address`; host bits are cleared.
    /// Nil when the length does not fit the family (0...32, 0...128).
    public init?(address: IPAddress, prefixLength: Int) {
        var address = address
        var prefixLength = prefixLength
        // Policy compares unmapped addresses, so a mapped-range block would never
        // match anything unless stored as the IPv4 block it stands for.
        if case .v6(0, let low) = address, low >> 32 == 0xffff, (96...128).contains(prefixLength) {
            address = address.unmapped
            prefixLength -= 96
        }
        switch address {
        case .v4(let value):
            guard (0...32).contains(prefixLength) else { return nil }
            self.address = .v4(value & Self.mask32(prefixLength))
        case .v6(let high, let low):
            guard (0...128).contains(prefixLength) else { return nil }
            let (highMask, lowMask) = Self.mask128(prefixLength)
            self.address = .v6(high & highMask, low & lowMask)
        }
        self.prefixLength = prefixLength
    }

    /// `address/prefix`, or a bare address meaning /32 or /128.
    ///
    /// Before a slash the IPv4 address must be a plain dotted quad: `10.1/8` or
    /// `010.0.0.0/8` are refused rather than guessed at, since an operator who writes
    /// them almost certainly means something other than what inet_aton reads. A bare
    /// address may use any form `IPAddress(parsing:)` accepts, because it then names
    /// exactly the address the resolver would dial.
    public init?(parsing text: String) {
        guard let slash = text.firstIndex(of: "/") else {
            guard let address = IPAddress(parsing: text) else { return nil }
            self.init(address: address, prefixLength: Self.isV4(address) ? 32 : 128)
            return
        }
        let addressText = String(text[..<slash])
        let prefixText = text[text.index(after: slash)...]
        guard
            !addressText.hasPrefix("["),
            let address = IPAddress(parsing: addressText),
            !Self.isV4(address) || address.description == addressText,
            (1...3).contains(prefixText.utf8.count),
            prefixText.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let prefixLength = Int(prefixText)
        else { return nil }
        self.init(address: address, prefixLength: prefixLength)
    }

    /// True when `address` (after `unmapped`) lies in the block; IPv4 and IPv6 blocks
    /// only ever contain addresses of their own family.
    public func contains(_ address: IPAddress) -> Bool {
        switch (self.address, address.unmapped) {
        case (.v4(let network), .v4(let value)):
            return value & Self.mask32(prefixLength) == network
        case (.v6(let networkHigh, let networkLow), .v6(let high, let low)):
            let (highMask, lowMask) = Self.mask128(prefixLength)
            return high & highMask == networkHigh && low & lowMask == networkLow
        default:
            return false
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func isV4(_ address: IPAddress) -> Bool {
        if case .v4 = address { return true }
        return false
    }

    private static func mask32(_ prefixLength: Int) -> UInt32 {
        prefixLength == 0 ? 0 : UInt32.max << (32 - prefixLength)
    }

    private static func mask128(_ prefixLength: Int) -> (high: UInt64, low: UInt64) {
        if prefixLength <= 64 {
            return (prefixLength == 0 ? 0 : UInt64.max << (64 - prefixLength), 0)
        }
        return (UInt64.max, UInt64.max << (128 - prefixLength))
    }
}
