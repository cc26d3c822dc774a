/// One attempt to join (the first join, or one try of a reconnection), minted by the
/// ``Reconnector``. An attempt dials exactly one connection generation, numbered alike.
public struct AttemptID: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// The generation this attempt's socket carries.
    public var generation: GenerationID { GenerationID(value) }
    public var description: String { "a\(value)" }
}
