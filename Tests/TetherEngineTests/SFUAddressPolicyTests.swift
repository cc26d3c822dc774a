import Testing
@testable import TetherEngine

@Suite(.timeLimit(.minutes(1))) struct SFUAddressPolicyTests {
    static let openedByIPEntryOnly = "only an explicit --allow-sfu-host IP or CIDR entry opens it"
    static let openedByAnyEntry = "only an explicit --allow-sfu-host entry for this host or address opens it"
    static let neverOpenedByName = "no host name opens it, only an explicit --allow-sfu-host IP or CIDR entry"

    func address(_ text: String) throws -> IPAddress {
        try #require(IPAddress(parsing: text))
    }

    /// What the caller does for an IP-literal host: the literal is the one address.
    func evaluateLiteral(_ policy: SFUAddressPolicy, _ host: String, port: Int = 443) throws -> SFUAddressPolicy.Decision {
        policy.evaluate(host: host, port: port, addresses: [try address(host)])
    }

    func evaluate(_ policy: SFUAddressPolicy, _ host: String, port: Int = 443, resolvingTo addresses: [String]) throws -> SFUAddressPolicy.Decision {
        policy.evaluate(host: host, port: port, addresses: try addresses.map(address))
    }

    // MARK: - CIDR and IP entries

    @Test(arguments: [
        ("10.2.3.4", SFUAddressPolicy.Decision.allowed),
        ("::ffff:10.2.3.4", .allowed),
        ("10.255.255.255", .allowed),
        ("11.0.0.1", .refused("11.0.0.1 is not an allowed SFU address (--allow-sfu-host)")),
        ("9.255.255.255", .refused("9.255.255.255 is not an allowed SFU address (--allow-sfu-host)")),
        ("::a02:304", .refused("::a02:304 is an IPv4-compatible address (deprecated) (::/96); \(openedByIPEntryOnly)")),
    ])
    func cidrEntryCoversItsBlockIncludingMappedAddresses(host: String, expected: SFUAddressPolicy.Decision) throws {
        let policy = try SFUAddressPolicy(entries: ["10.0.0.0/8"])
        #expect(try evaluateLiteral(policy, host) == expected)
    }

    @Test func ipv6CidrEntryCoversItsBlock() throws {
        let policy = try SFUAddressPolicy(entries: ["fd00::/8"])
        #expect(try evaluateLiteral(policy, "fd12:3456::1") == .allowed)
        #expect(try evaluateLiteral(policy, "fe80::1") == .refused("fe80::1 is a link-local address (fe80::/10); \(Self.openedByIPEntryOnly)"))
    }

    @Test func ipEntryWithPortOpensOnlyThatPort() throws {
        let policy = try SFUAddressPolicy(entries: ["10.1.2.3:9001", "[::1]:9001", "127.1:8080"])
        #expect(try evaluateLiteral(policy, "10.1.2.3", port: 9001) == .allowed)
        #expect(try evaluateLiteral(policy, "10.1.2.3", port: 9002) == .refused("10.1.2.3 is a private address (10.0.0.0/8); \(Self.openedByIPEntryOnly)"))
        #expect(try evaluateLiteral(policy, "::1", port: 9001) == .allowed)
        #expect(try evaluateLiteral(policy, "::1", port: 22) == .refused("::1 is the loopback address (::1/128); \(Self.openedByIPEntryOnly)"))
        #expect(try evaluateLiteral(policy, "127.0.0.1", port: 8080) == .allowed)
        #expect(try evaluateLiteral(policy, "127.0.0.1", port: 8081) == .refused("127.0.0.1 is a loopback address (127.0.0.0/8); \(Self.openedByIPEntryOnly)"))
    }

    /// `127.1` is 127.0.0.1 to the resolver, so it is an address entry, not a name.
    @Test(arguments: ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "::ffff:127.0.0.1", "[::ffff:7f00:1]"])
    func everyAddressSpellingIsAnAddressEntry(entry: String) throws {
        let policy = try SFUAddressPolicy(entries: [entry])
        #expect(try evaluateLiteral(policy, "127.0.0.1") == .allowed)
        #expect(try evaluate(policy, "sfu.example.com", resolvingTo: ["127.0.0.1"]) == .allowed)
        #expect(try evaluateLiteral(policy, "127.0.0.2") == .refused("127.0.0.2 is a loopback address (127.0.0.0/8); \(Self.openedByIPEntryOnly)"))
    }

    // MARK: - The wildcard

    @Test(arguments: [
        ("0.0.0.0", "an unspecified (\"this network\") address (0.0.0.0/8)"),
        ("0.1.2.3", "an unspecified (\"this network\") address (0.0.0.0/8)"),
        ("10.0.0.1", "a private address (10.0.0.0/8)"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address (100.64.0.0/10)"),
        ("100.127.255.255", "a shared (carrier-grade NAT) address (100.64.0.0/10)"),
        ("127.0.0.1", "a loopback address (127.0.0.0/8)"),
        ("127.255.255.254", "a loopback address (127.0.0.0/8)"),
        ("169.254.169.254", "a link-local address (where cloud metadata services live) (169.254.0.0/16)"),
        ("172.16.0.1", "a private address (172.16.0.0/12)"),
        ("172.31.255.255", "a private address (172.16.0.0/12)"),
        ("192.0.0.8", "an IETF protocol assignment address (192.0.0.0/24)"),
        ("192.0.2.1", "a documentation address (192.0.2.0/24)"),
        ("192.168.1.1", "a private address (192.168.0.0/16)"),
        ("198.18.0.1", "a benchmarking address (198.18.0.0/15)"),
        ("198.19.255.255", "a benchmarking address (198.18.0.0/15)"),
        ("198.51.100.1", "a documentation address (198.51.100.0/24)"),
        ("203.0.113.1", "a documentation address (203.0.113.0/24)"),
        ("224.0.0.1", "a multicast address (224.0.0.0/4)"),
        ("239.255.255.255", "a multicast address (224.0.0.0/4)"),
        ("240.0.0.1", "a reserved address (240.0.0.0/4)"),
        ("255.255.255.255", "the broadcast address (255.255.255.255/32)"),
        ("::", "the unspecified address (::/128)"),
        ("::1", "the loopback address (::1/128)"),
        ("::2", "an IPv4-compatible address (deprecated) (::/96)"),
        ("::808:808", "an IPv4-compatible address (deprecated) (::/96)"),
        ("::ffff:127.0.0.1", "a loopback address (127.0.0.0/8)"),
        ("::ffff:169.254.169.254", "a link-local address (where cloud metadata services live) (169.254.0.0/16)"),
        ("64:ff9b::7f00:1", "a NAT64 address (64:ff9b::/96) for 127.0.0.1, a loopback address (127.0.0.0/8)"),
        ("64:ff9b::a9fe:a9fe", "a NAT64 address (64:ff9b::/96) for 169.254.169.254, a link-local address (where cloud metadata services live) (169.254.0.0/16)"),
        ("64:ff9b:1::a00:1", "a local-use NAT64 address (64:ff9b:1::/48)"),
        ("100::1", "a discard-only address (100::/64)"),
        ("2001::1", "a Teredo address (2001::/32)"),
        ("2001:db8::1", "a documentation address (2001:db8::/32)"),
        ("2002:a00:1::1", "a 6to4 address (2002::/16) for 10.0.0.1, a private address (10.0.0.0/8)"),
        ("2002:7f00:1::", "a 6to4 address (2002::/16) for 127.0.0.1, a loopback address (127.0.0.0/8)"),
        ("fc00::1", "a unique local address (fc00::/7)"),
        ("fd00::1", "a unique local address (fc00::/7)"),
        ("fe80::1", "a link-local address (fe80::/10)"),
        ("febf::1", "a link-local address (fe80::/10)"),
        ("fec0::1", "a site-local address (deprecated) (fec0::/10)"),
        ("ff02::1", "a multicast address (ff00::/8)"),
        ("4000::1", "an address outside IPv6 global unicast (2000::/3)"),
        ("1::1", "an address outside IPv6 global unicast (2000::/3)"),
    ])
    func wildcardRefusesEverySpecialRange(host: String, why: String) throws {
        let policy = try SFUAddressPolicy(entries: ["*"])
        #expect(try evaluateLiteral(policy, host) == .refused("\(host) is \(why); \(Self.openedByIPEntryOnly)"))
        #expect(SFUAddressPolicy.isPublicUnicast(try address(host)) == false)
    }

    @Test(arguments: [
        "8.8.8.8", "1.1.1.1", "2606:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
        "64:ff9b::808:808", "2002:808:808::1", "11.0.0.1", "100.63.255.255", "100.128.0.0",
        "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.255", "192.0.3.0",
        "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255",
        "2001:1::1", "3fff:ffff::1",
    ])
    func wildcardAllowsPublicUnicast(host: String) throws {
        let policy = try SFUAddressPolicy(entries: ["*"])
        #expect(try evaluateLiteral(policy, host) == .allowed)
        #expect(SFUAddressPolicy.isPublicUnicast(try address(host)))
    }

    @Test func everySpecialRangeStartsWithAnAddressThatIsNotPublic() {
        for range in SFUAddressPolicy.specialRanges {
            #expect(SFUAddressPolicy.isPublicUnicast(range.network.address) == false, "\(range.network)")
        }
    }

    @Test func oneRefusedAddressRefusesTheWholeName() throws {
        let policy = try SFUAddressPolicy(entries: ["*"])
        let refusal = SFUAddressPolicy.Decision.refused("sfu.example.com resolves to a private address (10.0.0.0/8); \(Self.openedByAnyEntry)")
        #expect(try evaluate(policy, "sfu.example.com", resolvingTo: ["8.8.8.8", "10.0.0.1"]) == refusal)
        #expect(try evaluate(policy, "sfu.example.com", resolvingTo: ["10.0.0.1", "8.8.8.8"]) == refusal)
        #expect(try evaluate(policy, "sfu.example.com", resolvingTo: ["8.8.8.8", "2606:4700::1111"]) == .allowed)
    }

    @Test func nothingResolvedIsRefused() throws {
        let refusal = SFUAddressPolicy.Decision.refused("sfu.example.com resolved to no addresses")
        #expect(try SFUAddressPolicy(entries: ["*"]).evaluate(host: "sfu.example.com", port: 443, addresses: []) == refusal)
        #expect(try SFUAddressPolicy(entries: ["sfu.example.com"]).evaluate(host: "sfu.example.com", port: 443, addresses: []) == refusal)
    }

    // MARK: - The defaults

    @Test(arguments: [
        ("127.1", SFUAddressPolicy.Decision.allowed),
        ("127.0.0.1", .allowed),
        ("127.8.9.10", .allowed),
        ("::1", .allowed),
        ("::ffff:127.0.0.1", .allowed),
        ("0.0.0.0", .refused("0.0.0.0 is an unspecified (\"this network\") address (0.0.0.0/8); \(openedByIPEntryOnly)")),
        ("0", .refused("0.0.0.0 is an unspecified (\"this network\") address (0.0.0.0/8); \(openedByIPEntryOnly)")),
        ("::", .refused(":: is the unspecified address (::/128); \(openedByIPEntryOnly)")),
        ("10.0.0.1", .refused("10.0.0.1 is a private address (10.0.0.0/8); \(openedByIPEntryOnly)")),
        ("169.254.169.254", .refused("169.254.169.254 is a link-local address (where cloud metadata services live) (169.254.0.0/16); \(openedByIPEntryOnly)")),
        ("8.8.8.8", .refused("8.8.8.8 is not an allowed SFU address (--allow-sfu-host)")),
    ])
    func loopbackDefaultsOpenOnlyTheLocalHost(host: String, expected: SFUAddressPolicy.Decision) throws {
        let policy = try SFUAddressPolicy(entries: SFUAddressPolicy.loopbackDefaults)
        #expect(try evaluateLiteral(policy, host) == expected)
    }

    @Test func loopbackDefaultsOpenLocalhostByName() throws {
        let policy = try SFUAddressPolicy(entries: SFUAddressPolicy.loopbackDefaults)
        #expect(try evaluate(policy, "localhost", resolvingTo: ["127.0.0.1", "::1"]) == .allowed)
        #expect(try evaluate(policy, "LOCALHOST.", port: 9, resolvingTo: ["127.0.0.1"]) == .allowed)
        #expect(try evaluate(policy, "localhost", resolvingTo: ["0.0.0.0"]) == .refused("localhost resolves to an unspecified (\"this network\") address (0.0.0.0/8); \(Self.neverOpenedByName)"))
        // Any name resolving only into 127/8 is covered by the CIDR entry itself.
        #expect(try evaluate(policy, "rebind.example", resolvingTo: ["127.0.0.1"]) == .allowed)
        #expect(try evaluate(policy, "rebind.example", resolvingTo: ["127.0.0.1", "10.0.0.1"]) == .refused("rebind.example resolves to a private address (10.0.0.0/8); \(Self.openedByAnyEntry)"))
    }

    // MARK: - Name entries

    @Test func nameEntryOpensWhateverTheNameResolvesTo() throws {
        let policy = try SFUAddressPolicy(entries: ["SFU.Example.COM."])
        #expect(try evaluate(policy, "sfu.example.com", resolvingTo: ["10.0.0.5"]) == .allowed)
        #expect(try evaluate(policy, "sfu.EXAMPLE.com.", port: 1, resolvingTo: ["10.0.0.5", "8.8.8.8", "fd00::5"]) == .allowed)
        #expect(try evaluate(policy, "other.example.com", resolvingTo: ["8.8.8.8"]) == .refused("other.example.com is not an allowed SFU host (--allow-sfu-host)"))
        #expect(try evaluate(policy, "example.com", resolvingTo: ["8.8.8.8"]) == .refused("example.com is not an allowed SFU host (--allow-sfu-host)"))
        #expect(try evaluate(policy, "xsfu.example.com", resolvingTo: ["10.0.0.5"]) == .refused("xsfu.example.com resolves to a private address (10.0.0.0/8); \(Self.openedByAnyEntry)"))
    }

    @Test func nameEntryWithPortOpensOnlyThatPort() throws {
        let policy = try SFUAddressPolicy(entries: ["sfu.example.com:9443"])
        #expect(try evaluate(policy, "sfu.example.com", port: 9443, resolvingTo: ["10.0.0.5"]) == .allowed)
        #expect(try evaluate(policy, "sfu.example.com", port: 443, resolvingTo: ["10.0.0.5"]) == .refused("sfu.example.com resolves to a private address (10.0.0.0/8); \(Self.openedByAnyEntry)"))
        #expect(try evaluate(policy, "sfu.example.com", port: 443, resolvingTo: ["93.184.216.34"]) == .refused("sfu.example.com is not an allowed SFU host (--allow-sfu-host)"))
    }

    @Test(arguments: [
        ("0.0.0.0", "an unspecified (\"this network\") address (0.0.0.0/8)"),
        ("::ffff:0.0.0.0", "an unspecified (\"this network\") address (0.0.0.0/8)"),
        ("::", "the unspecified address (::/128)"),
        ("224.0.0.1", "a multicast address (224.0.0.0/4)"),
        ("ff02::1", "a multicast address (ff00::/8)"),
    ])
    func noNameOpensUnspecifiedOrMulticast(resolved: String, why: String) throws {
        let named = try SFUAddressPolicy(entries: ["sfu.example.com"])
        #expect(try evaluate(named, "sfu.example.com", resolvingTo: ["10.0.0.5", resolved]) == .refused("sfu.example.com resolves to \(why); \(Self.neverOpenedByName)"))
        let covered = try SFUAddressPolicy(entries: ["sfu.example.com", "0.0.0.0/8", "::", "224.0.0.0/4", "ff00::/8"])
        #expect(try evaluate(covered, "sfu.example.com", resolvingTo: ["10.0.0.5", resolved]) == .allowed)
    }

    @Test func refusalsNeverRevealTheAllowList() throws {
        let policy = try SFUAddressPolicy(entries: ["secret-sfu.internal:7443", "10.9.0.0/16", "172.20.1.1:9000", "*"])
        let decisions = [
            try evaluate(policy, "secret-sfu.internal", port: 443, resolvingTo: ["10.8.0.1"]),
            try evaluate(policy, "probe.example", port: 9000, resolvingTo: ["172.20.1.2"]),
            try evaluateLiteral(policy, "10.8.0.1"),
            try evaluateLiteral(policy, "172.20.1.1", port: 9001),
        ]
        // Each message may echo the client's own host; nothing the operator wrote.
        for case .refused(let message) in decisions {
            #expect(!message.contains("7443") && !message.contains("10.9") && !message.contains("9000"), "\(message)")
        }
        #expect(decisions.allSatisfy { $0 != .allowed })
    }

    // MARK: - Reading entries

    @Test(arguments: [
        ("", "is empty"),
        ("sfu.example.com:0", "has port '0'; a port is 1 to 65535"),
        ("sfu.example.com:65536", "has port '65536'; a port is 1 to 65535"),
        ("sfu.example.com:", "has port ''; a port is 1 to 65535"),
        ("sfu.example.com:+80", "has port '+80'; a port is 1 to 65535"),
        ("sfu.example.com:0080000", "has port '0080000'; a port is 1 to 65535"),
        ("[::1]:", "has port ''; a port is 1 to 65535"),
        ("[::1]:70000", "has port '70000'; a port is 1 to 65535"),
        ("10.0.0.0/33", "is not a CIDR block; write a dotted quad or IPv6 address, '/', and a prefix length, such as 10.0.0.0/8 or fd00::/8"),
        ("10.1/8", "is not a CIDR block; write a dotted quad or IPv6 address, '/', and a prefix length, such as 10.0.0.0/8 or fd00::/8"),
        ("10.0.0.0/8:9001", "is not a CIDR block; write a dotted quad or IPv6 address, '/', and a prefix length, such as 10.0.0.0/8 or fd00::/8"),
        ("sfu_example.com", "is not a host name: only letters, digits, '-' and '.' are allowed (or '*' alone for any public address)"),
        ("*.example.com", "is not a host name: only letters, digits, '-' and '.' are allowed (or '*' alone for any public address)"),
        ("*:443", "is not a host name: only letters, digits, '-' and '.' are allowed (or '*' alone for any public address)"),
        ("sfu example.com", "is not a host name: only letters, digits, '-' and '.' are allowed (or '*' alone for any public address)"),
        ("localhost ", "is not a host name: only letters, digits, '-' and '.' are allowed (or '*' alone for any public address)"),
        ("münchen.de", "is not a host name: only letters, digits, '-' and '.' are allowed (or '*' alone for any public address)"),
        ("a..b", "is not a host name: it has an empty label"),
        (".example.com", "is not a host name: it has an empty label"),
        (".", "is not a host name: it has an empty label"),
        (":9000", "has no host name before the port"),
        ("08.1.1.1", "looks like an IPv4 address but is not one the resolver accepts (at most 4 parts; each decimal, 0-prefixed octal or 0x hex, within range)"),
        ("1.2.3.4.5", "looks like an IPv4 address but is not one the resolver accepts (at most 4 parts; each decimal, 0-prefixed octal or 0x hex, within range)"),
        ("256.1.1.1", "looks like an IPv4 address but is not one the resolver accepts (at most 4 parts; each decimal, 0-prefixed octal or 0x hex, within range)"),
        ("1.2.3.4.", "looks like an IPv4 address but is not one the resolver accepts (at most 4 parts; each decimal, 0-prefixed octal or 0x hex, within range)"),
        ("0x", "looks like an IPv4 address but is not one the resolver accepts (at most 4 parts; each decimal, 0-prefixed octal or 0x hex, within range)"),
        ("sfu.0x100000000:80", "looks like an IPv4 address but is not one the resolver accepts (at most 4 parts; each decimal, 0-prefixed octal or 0x hex, within range)"),
        ("fe80::1%eth0", "has a zone id ('%'); addresses with zones are not supported"),
        ("[fe80::1%eth0]:80", "has a zone id ('%'); addresses with zones are not supported"),
        ("1:2:3:4:5:6:7:8:9", "is not an IPv6 address; write an IPv6 address with a port as [address]:port"),
        ("sfu.example.com:80:81", "is not an IPv6 address; write an IPv6 address with a port as [address]:port"),
        ("[::1]x", "is not [IPv6 address] or [IPv6 address]:port"),
        ("[::1", "is not [IPv6 address] or [IPv6 address]:port"),
        ("[127.0.0.1]:80", "is not [IPv6 address] or [IPv6 address]:port"),
        ("[sfu.example.com]:80", "is not [IPv6 address] or [IPv6 address]:port"),
    ])
    func invalidEntriesAreRefusedByName(entry: String, reason: String) {
        #expect(throws: SFUAddressPolicy.InvalidEntry(entry: entry, reason: reason)) {
            try SFUAddressPolicy(entries: ["localhost", entry])
        }
        #expect(SFUAddressPolicy.InvalidEntry(entry: entry, reason: reason).description == "--allow-sfu-host '\(entry)': \(reason)")
    }

    @Test(arguments: [
        "*", "localhost", "sfu.example.com", "sfu-1.example.com:9443", "SFU.EXAMPLE.COM.", "xn--mnchen-3ya.de",
        "0x1g", "10.1.2.3", "10.1.2.3:9001", "::1", "[::1]", "[::1]:9001", "10.0.0.0/8", "fd00::/8", "127.1",
    ])
    func validEntriesAreRead(entry: String) throws {
        _ = try SFUAddressPolicy(entries: [entry])
    }

    @Test func equalEntriesMakeEqualPolicies() throws {
        #expect(try SFUAddressPolicy(entries: ["Example.com.", "127.1"]) == SFUAddressPolicy(entries: ["example.com", "127.0.0.1"]))
        #expect(try SFUAddressPolicy(entries: ["example.com"]) != SFUAddressPolicy(entries: ["example.com:443"]))
        #expect(try SFUAddressPolicy(entries: ["*"]) != SFUAddressPolicy(entries: []))
    }
}
