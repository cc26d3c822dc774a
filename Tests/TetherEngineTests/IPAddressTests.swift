#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import TetherEngine

@Suite(.timeLimit(.minutes(1))) struct IPAddressTests {
    static let loopback = IPAddress.v4(0x7f00_0001)

    // MARK: - IPv4, the inet_aton way

    @Test(arguments: [
        "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0X7F000001", "0177.0.0.1",
        "0x7f.1", "0x7F.0.0.1", "0177.1", "017700000001", "127.0.0.0x1", "127.00.0.01",
    ])
    func everySpellingOfLoopbackParsesToIt(text: String) {
        #expect(IPAddress(parsing: text) == Self.loopback)
    }

    @Test(arguments: ["0", "0.0.0.0", "00", "0x0", "0.0", "0.0.0", "000.0x0.00.0"])
    func spellingsOfZeroParseToTheUnspecifiedAddress(text: String) {
        #expect(IPAddress(parsing: text) == .v4(0))
    }

    @Test(arguments: [
        ("1.2.3.4", 0x0102_0304 as UInt32),
        ("255.255.255.255", 0xffff_ffff),
        ("4294967295", 0xffff_ffff),
        ("0xffffffff", 0xffff_ffff),
        ("037777777777", 0xffff_ffff),
        ("1.16777215", 0x01ff_ffff),
        ("1.2.65535", 0x0102_ffff),
        ("10.0x10.010", 0x0a10_0008),
        ("192.168.1", 0xc0a8_0001),
    ])
    func partsFillTheirWidths(text: String, value: UInt32) {
        #expect(IPAddress(parsing: text) == .v4(value))
    }

    @Test(arguments: [
        "", ".", "1.", "1.2.3.", "1.2.3.4.", ".1.2.3", "1..2", "1.2.3.4.5",
        "256.1.1.1", "1.256.1.1", "1.2.256.1", "1.2.3.256", "4294967296", "0x100000000",
        "1.16777216", "1.2.65536", "08.1.1.1", "09", "0x", "0x.1", "0xg", "1e3", "1.2.3.4x",
        "-1", "+1", "1.-2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1. 2.3.4", "127.0.0.1\0",
        "localhost", "example.com", "\u{FF11}.2.3.4", "99999999999999999999999999",
    ])
    func malformedIPv4IsNotAnAddress(text: String) {
        #expect(IPAddress(parsing: text) == nil)
    }

    /// The parser must read exactly what the resolver reads, or an allow-list and the
    /// dialer would disagree about where `127.1` goes. Spellings with whitespace are
    /// left out: inet_aton stops at whitespace, the resolver's strict variant does not.
    @Test(arguments: [
        "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1",
        "0", "0.0.0.0", "00", "0x0", "255.255.255.255", "4294967295", "4294967296",
        "0xffffffff", "0x100000000", "037777777777", "040000000000", "256.1.1.1",
        "1.2.3.4.5", "08.1.1.1", "0x", "0x.1", "1.", "1..2", ".1", "1.16777215",
        "1.16777216", "1.2.65535", "1.2.65536", "1.2.3.255", "1.2.3.256", "-1", "+1", "0xg",
        "1e3", "0X7F.1", "0.0x0.00.0", "a.b.c.d", "localhost", "",
    ])
    func agreesWithInetAton(text: String) {
        var address = in_addr()
        let accepted = inet_aton(text, &address) == 1
        let expected: IPAddress? = accepted ? .v4(UInt32(bigEndian: address.s_addr)) : nil
        #expect(IPAddress(parsing: text) == expected)
    }

    /// The one documented difference from inet_aton, which ignores whatever follows
    /// whitespace; getaddrinfo uses glibc's strict variant, and so do we.
    @Test func trailingTextAfterWhitespaceIsRefusedUnlikeInetAton() {
        var address = in_addr()
        #expect(inet_aton("127.0.0.1 junk", &address) == 1)
        #expect(IPAddress(parsing: "127.0.0.1 junk") == nil)
    }

    // MARK: - IPv6

    @Test(arguments: [
        ("::1", IPAddress.v6(0, 1)),
        ("[::1]", .v6(0, 1)),
        ("::", .v6(0, 0)),
        ("[::]", .v6(0, 0)),
        ("2001:db8::1", .v6(0x2001_0db8_0000_0000, 1)),
        ("FD00::ABCD", .v6(0xfd00_0000_0000_0000, 0xabcd)),
        ("1:2:3:4:5:6:7:8", .v6(0x0001_0002_0003_0004, 0x0005_0006_0007_0008)),
        ("2606:4700::1111", .v6(0x2606_4700_0000_0000, 0x1111)),
        ("::ffff:127.0.0.1", .v6(0, 0xffff_7f00_0001)),
        ("::ffff:7f00:1", .v6(0, 0xffff_7f00_0001)),
        ("[::FFFF:7F00:0001]", .v6(0, 0xffff_7f00_0001)),
        ("fe80::1", .v6(0xfe80_0000_0000_0000, 1)),
        ("64:ff9b::8.8.8.8", .v6(0x0064_ff9b_0000_0000, 0x0808_0808)),
    ])
    func parsesIPv6(text: String, expected: IPAddress) {
        #expect(IPAddress(parsing: text) == expected)
    }

    @Test(arguments: [
        "fe80::1%eth0", "[fe80::1%eth0]", "fe80::1%1", "[::1", "::1]", "[]", "[::1]:80", "1::2::3",
        "12345::", ":::", "1:2:3:4:5:6:7:8:9", "::ffff:127.1", "::ffff:1.2.3.04", "[127.0.0.1]",
        "::1\0", "::g", " ::1", "::1 ", "[[::1]]",
    ])
    func malformedIPv6IsNotAnAddress(text: String) {
        #expect(IPAddress(parsing: text) == nil)
    }

    // MARK: - Unmapping

    @Test(arguments: [
        (IPAddress(parsing: "::ffff:127.0.0.1")!, IPAddress.v4(0x7f00_0001)),
        (IPAddress(parsing: "::ffff:7f00:1")!, .v4(0x7f00_0001)),
        (IPAddress(parsing: "::ffff:0.0.0.0")!, .v4(0)),
        (IPAddress(parsing: "::ffff:10.2.3.4")!, .v4(0x0a02_0304)),
        // Not mapped: IPv4-compatible, a neighbour of the mapped prefix, NAT64, loopback.
        (IPAddress(parsing: "::127.0.0.1")!, .v6(0, 0x7f00_0001)),
        (IPAddress(parsing: "::fffe:7f00:1")!, .v6(0, 0xfffe_7f00_0001)),
        (IPAddress(parsing: "1::ffff:7f00:1")!, .v6(0x0001_0000_0000_0000, 0xffff_7f00_0001)),
        (IPAddress(parsing: "64:ff9b::7f00:1")!, .v6(0x0064_ff9b_0000_0000, 0x7f00_0001)),
        (IPAddress(parsing: "::1")!, .v6(0, 1)),
        (.v4(0x0808_0808), .v4(0x0808_0808)),
    ])
    func unmappedExtractsOnlyIPv4MappedAddresses(address: IPAddress, expected: IPAddress) {
        #expect(address.unmapped == expected)
    }

    // MARK: - Text

    @Test(arguments: [
        ("127.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("4294967295", "255.255.255.255"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("::2", "::2"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0:0:1:0:0:0:0", "2001:0:0:1::"),
        ("2001:db8:1:1:1:1:0:1", "2001:db8:1:1:1:1:0:1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("fe80::0abc", "fe80::abc"),
    ])
    func descriptionIsCanonical(text: String, expected: String) {
        #expect(IPAddress(parsing: text)?.description == expected)
    }

    /// Cross-checks the hand-written RFC 5952 text against the C library for every
    /// shape of zero run; `::/96` is left out, where glibc prints `::2` as `::0.0.0.2`.
    @Test(arguments: [
        "1::", "1:0:0:2::", "1:0:2:0:0:3::", "1::2:0:0:3", "ff02::1:ff00:1",
        "2606:4700::1111", "1:0:0:0:2:0:0:3", "0:0:1::", "fe80::1:2:3:4:5",
    ])
    func descriptionAgreesWithInetNtop(text: String) throws {
        var storage = in6_addr()
        try #require(inet_pton(AF_INET6, text, &storage) == 1)
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        try #require(inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil)
        let expected = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(IPAddress(parsing: text)?.description == expected)
    }

    // MARK: - Bytes

    @Test func bytesBuildBothFamilies() {
        #expect(IPAddress(bytes: [127, 0, 0, 1]) == Self.loopback)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 15) + [1]) == .v6(0, 1))
        #expect(IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]) == .v6(0x2001_0db8_0000_0000, 2))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 5)) == nil)
        #expect(IPAddress(bytes: [UInt8]()) == nil)
    }

    /// The dialer's path: the raw bytes of a resolved `sockaddr_in`/`sockaddr_in6`.
    @Test func bytesOfCAddressStructsRoundTrip() throws {
        var v4 = in_addr()
        try #require(inet_pton(AF_INET, "192.0.2.7", &v4) == 1)
        #expect(withUnsafeBytes(of: v4) { IPAddress(bytes: $0) } == .v4(0xc000_0207))
        var v6 = in6_addr()
        try #require(inet_pton(AF_INET6, "2001:db8::7", &v6) == 1)
        #expect(withUnsafeBytes(of: v6) { IPAddress(bytes: $0) } == .v6(0x2001_0db8_0000_0000, 7))
    }
}

@Suite(.timeLimit(.minutes(1))) struct IPNetworkTests {
    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("255.255.255.255/32", "255.255.255.255/32"),
        ("172.31.0.0/12", "172.16.0.0/12"),
        ("fd00::/8", "fd00::/8"),
        ("FD12:3456::1/16", "fd12::/16"),
        ("::/0", "::/0"),
        ("2001:db8::1/128", "2001:db8::1/128"),
        ("2001:db8::ffff/127", "2001:db8::fffe/127"),
        ("1:2:3:4:5:6:7:8/65", "1:2:3:4::/65"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ("::ffff:0:0/96", "0.0.0.0/0"),
        ("127.1", "127.0.0.1/32"),
        ("2130706433", "127.0.0.1/32"),
        ("::1", "::1/128"),
        ("[::1]", "::1/128"),
        ("::ffff:127.0.0.1", "127.0.0.1/32"),
    ])
    func parsesAndMasks(text: String, expected: String) {
        #expect(IPNetwork(parsing: text)?.description == expected)
    }

    @Test(arguments: [
        "10.1/8", "010.0.0.0/8", "10.0.0.010/8", "0x0a000000/8", "167772160/8", "10.0.0.0/33",
        "::/129", "10.0.0.0/", "/8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8/8",
        "[::1]/128", "fe80::1%eth0/64", "10.0.0.0/0x8", "10.0.0.0/1000", "example.com/8", "",
        "256.0.0.0/8",
    ])
    func refusesMalformedBlocks(text: String) {
        #expect(IPNetwork(parsing: text) == nil)
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.2.3.4", true),
        ("10.0.0.0/8", "::ffff:10.2.3.4", true),
        ("10.0.0.0/8", "10.255.255.255", true),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("10.0.0.0/8", "9.255.255.255", false),
        ("10.0.0.0/8", "::a02:304", false),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("0.0.0.0/0", "::1", false),
        ("fd00::/8", "fd12::1", true),
        ("fd00::/8", "fe00::1", false),
        ("fd00::/8", "10.0.0.1", false),
        ("::/0", "2606:4700::1111", true),
        // A mapped address is IPv4 for every block, even one that spans the mapped range.
        ("::/0", "::ffff:10.2.3.4", false),
        ("::1", "::1", true),
        ("::1", "::2", false),
        ("2001:db8::/127", "2001:db8::1", true),
        ("2001:db8::/127", "2001:db8::2", false),
    ])
    func containsComparesUnmappedAddressesOfOneFamily(network: String, address: String, expected: Bool) throws {
        let network = try #require(IPNetwork(parsing: network))
        let address = try #require(IPAddress(parsing: address))
        #expect(network.contains(address) == expected)
    }

    @Test func lengthsOutsideTheFamilyAreRefused() {
        #expect(IPNetwork(address: .v4(0), prefixLength: 33) == nil)
        #expect(IPNetwork(address: .v6(0, 0), prefixLength: 129) == nil)
        #expect(IPNetwork(address: .v4(0), prefixLength: -1) == nil)
        #expect(IPNetwork(address: .v6(0, 0xffff_0000_0000), prefixLength: 95)?.description == "::fffe:0:0/95")
    }
}
