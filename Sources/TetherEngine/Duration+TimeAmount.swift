import NIOCore

extension Duration {
    /// The same span as a NIO `TimeAmount`, never negative.
    public var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        let nanos = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        return .nanoseconds(max(0, nanos))
    }
}
