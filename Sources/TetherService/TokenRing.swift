/// The configured bearer tokens and their roles, compared in constant time.
struct TokenRing: Sendable {
    private let entries: [(token: [UInt8], role: AccessRole)]

    init(full: [String], read: [String]) {
        entries = full.map { (Array($0.utf8), .full) } + read.map { (Array($0.utf8), .read) }
    }

    var isEmpty: Bool { entries.isEmpty }

    /// The role of `presented`, or nil when it matches no token. Every token is compared
    /// in full, so timing reveals neither a matching prefix nor which role matched.
    func role(of presented: Substring) -> AccessRole? {
        let presented = Array(presented.utf8)
        var matched: AccessRole?
        for entry in entries where Self.constantTimeEquals(presented, entry.token) {
            // A token listed in both roles gets the stronger one.
            if matched != .full { matched = entry.role }
        }
        return matched
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
