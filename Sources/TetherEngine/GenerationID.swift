/// One connection generation of a session: one socket, one loss latch. Minted by the
/// ``Reconnector`` (attempt `n` dials generation `n`), so every action and notice names
/// the connection it is about, and a late report from a replaced one is recognised.
public struct GenerationID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public static func < (lhs: GenerationID, rhs: GenerationID) -> Bool { lhs.value < rhs.value }
    public var description: String { "g\(value)" }
}

extension GenerationID: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: UInt64) { self.init(value) }
}
