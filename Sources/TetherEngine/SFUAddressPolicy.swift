/// Which SFU hosts and addresses sessions may dial, from the operator's
/// `--allow-sfu-host` entries.
///
/// Tether dials URLs that its HTTP clients give it. Without this check a client could
/// make it connect to a cloud metadata service, a loopback-only admin port, or walk a
/// private network one port at a time. The decision is pure: the caller resolves the
/// host and passes every address it would dial, so what is judged is what is dialed.
///
/// - A name entry (`sfu.example.com`, optionally `:port`) equal to the URL's host
///   allows it whatever it resolves to, because the operator named it. Unspecified
///   and multicast addresses are the exception: no name opens them (Linux connects
///   `0.0.0.0` to the local host), only an IP or CIDR entry does.
/// - Otherwise every resolved address, and at least one, must be covered by an IP or
///   CIDR entry (with a matching port if the entry has one), or be public unicast
///   when `*` is an entry.
public struct SFUAddressPolicy: Sendable, Equatable {
    public enum Decision: Equatable, Sendable {
        case allowed
        /// A message for the HTTP client naming what was refused and why; it never
        /// lists the allow-list, and never the address a client-supplied name
        /// resolved to, so the service does not answer questions about internal DNS.
        case refused(String)
    }

    /// An `--allow-sfu-host` entry that cannot be read.
    public struct InvalidEntry: Error, Sendable, Equatable, CustomStringConvertible {
        public var entry: String
        public var reason: String

        public var description: String { "--allow-sfu-host '\(entry)': \(reason)" }

        static func empty() -> InvalidEntry {
            InvalidEntry(entry: "", reason: "is empty")
        }

        static func badCIDR(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "is not a CIDR block; write a dotted quad or IPv6 address, '/', and a prefix length, such as 10.0.0.0/8 or fd00::/8")
        }

        static func badPort(_ entry: String, _ port: Substring) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "has port '\(port)'; a port is 1 to 65535")
        }

        static func zoneID(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "has a zone id ('%'); addresses with zones are not supported")
        }

        static func unbracketedIPv6(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "is not an IPv6 address; write an IPv6 address with a port as [address]:port")
        }

        static func badBrackets(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "is not [IPv6 address] or [IPv6 address]:port")
        }

        static func missingHost(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "has no host name before the port")
        }

        static func badNameCharacters(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "is not a host name: only letters, digits, '-' and '.' are allowed (or '*' alone for any public address)")
        }

        static func emptyLabel(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "is not a host name: it has an empty label")
        }

        static func numericName(_ entry: String) -> InvalidEntry {
            InvalidEntry(entry: entry, reason: "looks like an IPv4 address but is not one the resolver accepts (at most 4 parts; each decimal, 0-prefixed octal or 0x hex, within range)")
        }
    }

    /// The entries used when the operator gives none: the local host only.
    public static let loopbackDefaults = ["127.0.0.0/8", "::1", "localhost"]

    private struct NameEntry: Sendable, Equatable {
        var name: String
        var port: Int?
    }

    private struct NetworkEntry: Sendable, Equatable {
        var network: IPNetwork
        var port: Int?
    }

    private var allowsPublicUnicast = false
    private var names: [NameEntry] = []
    private var networks: [NetworkEntry] = []

    /// Reads the entries: `*`, `host`, `host:port`, `IP`, `IP:port`, `[IPv6]:port`,
    /// or a CIDR block. Anything `IPAddress(parsing:)` accepts is an address, never a
    /// name, so `127.1` means 127.0.0.1 here exactly as it does to the resolver.
    public init(entries: [String]) throws(InvalidEntry) {
        for entry in entries {
            try add(entry)
        }
    }

    private mutating func add(_ entry: String) throws(InvalidEntry) {
        if entry.isEmpty { throw .empty() }
        if entry == "*" {
            allowsPublicUnicast = true
            return
        }
        if entry.contains("%") { throw .zoneID(entry) }
        if entry.contains("/") {
            guard let network = IPNetwork(parsing: entry) else { throw .badCIDR(entry) }
            networks.append(NetworkEntry(network: network, port: nil))
            return
        }
        if let network = IPNetwork(parsing: entry) {
            networks.append(NetworkEntry(network: network, port: nil))
            return
        }
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]"),
                  let network = IPNetwork(parsing: String(entry[...close])),
                  entry[entry.index(after: close)...].hasPrefix(":")
            else { throw .badBrackets(entry) }
            let port = try Self.port(entry[entry.index(close, offsetBy: 2)...], of: entry)
            networks.append(NetworkEntry(network: network, port: port))
            return
        }
        let pieces = entry.split(separator: ":", omittingEmptySubsequences: false)
        guard pieces.count <= 2 else { throw .unbracketedIPv6(entry) }
        var port: Int?
        if pieces.count == 2 { port = try Self.port(pieces[1], of: entry) }
        if let network = IPNetwork(parsing: String(pieces[0])) {
            networks.append(NetworkEntry(network: network, port: port))
        } else {
            names.append(NameEntry(name: try Self.name(pieces[0], of: entry), port: port))
        }
    }

    /// Judges one URL: `host` as written (an IP literal without brackets, or a name)
    /// and every address it resolved to (for a literal, the literal itself).
    public func evaluate(host: String, port: Int, addresses: [IPAddress]) -> Decision {
        let literal = IPAddress(parsing: host)
        guard !addresses.isEmpty else { return .refused("\(host) resolved to no addresses") }
        let name = Self.normalizedName(host)
        let named = literal == nil && names.contains { $0.name == name && ($0.port == nil || $0.port == port) }
        for resolved in addresses {
            let address = resolved.unmapped
            if networks.contains(where: { $0.network.contains(address) && ($0.port == nil || $0.port == port) }) {
                continue
            }
            let restriction = Self.restriction(of: address)
            // A literal is the client's own text, so echoing it tells them nothing;
            // the address a name resolved to would map internal DNS for them.
            let echoesAddress = literal != nil
            let subject = echoesAddress ? "\(resolved) is" : "\(host) resolves to"
            if named {
                guard let restriction, !restriction.openedByName else { continue }
                return .refused("\(subject) \(restriction.summary(showingAddress: echoesAddress)); no host name opens it, only an explicit --allow-sfu-host IP or CIDR entry")
            }
            if let restriction {
                let remedy = echoesAddress ? "IP or CIDR entry" : "entry for this host or address"
                return .refused("\(subject) \(restriction.summary(showingAddress: echoesAddress)); only an explicit --allow-sfu-host \(remedy) opens it")
            }
            if allowsPublicUnicast { continue }
            return .refused(literal == nil
                ? "\(host) is not an allowed SFU host (--allow-sfu-host)"
                : "\(resolved) is not an allowed SFU address (--allow-sfu-host)")
        }
        return .allowed
    }

    /// True for an address `*` may open: not in any `SpecialRange`, after unmapping,
    /// and for NAT64 and 6to4 judged by the IPv4 address they carry.
    public static func isPublicUnicast(_ address: IPAddress) -> Bool {
        restriction(of: address) == nil
    }

    /// Lower-cased, one trailing dot dropped: the resolver treats `Example.COM.` and
    /// `example.com` alike.
    private static func normalizedName(_ host: some StringProtocol) -> String {
        let lowered = host.lowercased()
        return lowered.hasSuffix(".") ? String(lowered.dropLast()) : lowered
    }

    private static func port(_ text: Substring, of entry: String) throws(InvalidEntry) -> Int {
        guard (1...5).contains(text.utf8.count),
              text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let port = Int(text), (1...65535).contains(port)
        else { throw .badPort(entry, text) }
        return port
    }

    private static func name(_ text: Substring, of entry: String) throws(InvalidEntry) -> String {
        guard !text.isEmpty else { throw .missingHost(entry) }
        let allowed = text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."): true
            default: false
            }
        }
        guard allowed else { throw .badNameCharacters(entry) }
        let name = normalizedName(text)
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !labels.contains(where: \.isEmpty) else { throw .emptyLabel(entry) }
        // The URL standard's "ends in a number" rule: no top-level domain is numeric,
        // so `08.1.1.1` or `1.2.3.4.5` is a mistyped address, not a name to trust.
        if let last = labels.last, Self.looksNumeric(last) { throw .numericName(entry) }
        return name
    }

    private static func looksNumeric(_ label: Substring) -> Bool {
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        if label.utf8.allSatisfy(isDigit) { return true }
        guard label.hasPrefix("0x") else { return false }
        return label.utf8.dropFirst(2).allSatisfy { isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }
}

// MARK: - Special-use ranges

extension SFUAddressPolicy {
    /// A block that `*` does not open, with how to describe it to a client.
    struct SpecialRange: Sendable {
        enum Treatment: Sendable {
            /// Not public; an IP/CIDR entry or a name entry may still open it.
            case refused
            /// Unspecified or multicast: only an IP/CIDR entry opens it.
            case neverDialedByName
            /// A translation of an IPv4 address, judged as that address.
            case carriesIPv4(EmbeddedIPv4)
        }

        enum EmbeddedIPv4: Sendable {
            /// NAT64 (RFC 6052 /96 form): the last 32 bits.
            case lowBits
            /// 6to4 (RFC 3056): bits 16 to 47, right after 2002::/16.
            case afterFirstGroup

            func extract(from address: IPAddress) -> IPAddress? {
                guard case .v6(let high, let low) = address else { return nil }
                switch self {
                case .lowBits: return .v4(UInt32(truncatingIfNeeded: low))
                case .afterFirstGroup: return .v4(UInt32(truncatingIfNeeded: high >> 16))
                }
            }
        }

        var network: IPNetwork
        /// What a client is told: a noun phrase with its article and the block,
        /// e.g. "a loopback address (127.0.0.0/8)".
        var label: String
        var treatment: Treatment

        init(_ cidr: String, _ name: String, _ treatment: Treatment = .refused) {
            guard let network = IPNetwork(parsing: cidr) else { preconditionFailure("special range '\(cidr)' does not parse") }
            self.init(network: network, label: "\(name) (\(network))", treatment: treatment)
        }

        init(network: IPNetwork, label: String, treatment: Treatment) {
            self.network = network
            self.label = label
            self.treatment = treatment
        }
    }

    /// First match wins, so narrower blocks come before the blocks that contain them.
    /// IPv4-mapped addresses (`::ffff:0:0/96`) are absent on purpose: they are
    /// unmapped before this table is consulted and judged as the IPv4 address.
    static let specialRanges: [SpecialRange] = [
        SpecialRange("0.0.0.0/8", "an unspecified (\"this network\") address", .neverDialedByName),
        SpecialRange("10.0.0.0/8", "a private address"),
        SpecialRange("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        SpecialRange("127.0.0.0/8", "a loopback address"),
        SpecialRange("169.254.0.0/16", "a link-local address (where cloud metadata services live)"),
        SpecialRange("172.16.0.0/12", "a private address"),
        SpecialRange("192.0.0.0/24", "an IETF protocol assignment address"),
        SpecialRange("192.0.2.0/24", "a documentation address"),
        SpecialRange("192.168.0.0/16", "a private address"),
        SpecialRange("198.18.0.0/15", "a benchmarking address"),
        SpecialRange("198.51.100.0/24", "a documentation address"),
        SpecialRange("203.0.113.0/24", "a documentation address"),
        SpecialRange("224.0.0.0/4", "a multicast address", .neverDialedByName),
        SpecialRange("255.255.255.255/32", "the broadcast address"),
        SpecialRange("240.0.0.0/4", "a reserved address"),
        SpecialRange("::/128", "the unspecified address", .neverDialedByName),
        SpecialRange("::1/128", "the loopback address"),
        SpecialRange("::/96", "an IPv4-compatible address (deprecated)"),
        SpecialRange("64:ff9b::/96", "a NAT64 address", .carriesIPv4(.lowBits)),
        // RFC 8215 lets this prefix embed IPv4 at other offsets: refused outright.
        SpecialRange("64:ff9b:1::/48", "a local-use NAT64 address"),
        SpecialRange("100::/64", "a discard-only address"),
        SpecialRange("2001::/32", "a Teredo address"),
        SpecialRange("2001:db8::/32", "a documentation address"),
        SpecialRange("2002::/16", "a 6to4 address", .carriesIPv4(.afterFirstGroup)),
        SpecialRange("fc00::/7", "a unique local address"),
        SpecialRange("fe80::/10", "a link-local address"),
        SpecialRange("fec0::/10", "a site-local address (deprecated)"),
        SpecialRange("ff00::/8", "a multicast address", .neverDialedByName),
    ]

    /// Everything IANA allocates for IPv6 unicast; the rest is unassigned, and
    /// nothing an SFU legitimately lives on.
    static let globalUnicastIPv6 = IPNetwork(parsing: "2000::/3")!

    /// The verdict for IPv6 outside `globalUnicastIPv6` that no table entry names.
    static let unassignedIPv6 = SpecialRange(
        network: IPNetwork(parsing: "::/0")!, label: "an address outside IPv6 global unicast (2000::/3)", treatment: .refused)

    /// Why an address is not public unicast.
    struct Restriction: Sendable {
        var range: SpecialRange
        /// For NAT64 and 6to4: the IPv4 address carried, and why it is refused.
        var carried: (address: IPAddress, range: SpecialRange)?

        var openedByName: Bool {
            guard case .neverDialedByName = (carried?.range ?? range).treatment else { return true }
            return false
        }

        /// The reason as a phrase to follow "is" or "resolves to", naming the carried
        /// IPv4 address only when `showingAddress`.
        func summary(showingAddress: Bool) -> String {
            guard let carried else { return range.label }
            return showingAddress
                ? "\(range.label) for \(carried.address), \(carried.range.label)"
                : "\(range.label) for \(carried.range.label)"
        }
    }

    static func restriction(of address: IPAddress) -> Restriction? {
        let address = address.unmapped
        guard let range = specialRanges.first(where: { $0.network.contains(address) }) else {
            if case .v6 = address, !globalUnicastIPv6.contains(address) {
                return Restriction(range: unassignedIPv6)
            }
            return nil
        }
        guard case .carriesIPv4(let embedding) = range.treatment else { return Restriction(range: range) }
        guard let carried = embedding.extract(from: address), let inner = restriction(of: carried) else { return nil }
        return Restriction(range: range, carried: (carried, inner.range))
    }
}
