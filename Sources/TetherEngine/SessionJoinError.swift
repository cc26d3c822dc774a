/// The first join of a session failed; carries the SFU's code and message when the
/// SFU answered, or the transport's reason when it could not be reached.
public struct SessionJoinError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// True when the SFU itself rejected the join (as opposed to not being reachable).
    public var rejectedBySFU: Bool

    public init(code: String, message: String, rejectedBySFU: Bool) {
        self.code = code
        self.message = message
        self.rejectedBySFU = rejectedBySFU
    }

    public var description: String { "join failed: \(code): \(message)" }
}
