/// How a session has fared: counted by the ``Reconnector`` as it emits the events they
/// count, so the numbers and the history never disagree.
public struct SessionCounters: Sendable, Equatable, Hashable {
    public var losses: Int
    public var reconnects: Int
    public var failedReconnects: Int

    public init(losses: Int = 0, reconnects: Int = 0, failedReconnects: Int = 0) {
        self.losses = losses
        self.reconnects = reconnects
        self.failedReconnects = failedReconnects
    }
}
