import Synchronization

/// What the writer of a fleet instance checks before it writes anything for a session:
/// that the row still names this instance as owner, under the epoch the write carries
/// (`SessionRecord.ownerInstance`, `.epoch`). Checked in the batch's own transaction,
/// with the rows locked, so a sweep or a claim cannot slip in between.
///
/// A write that fails the check is not written — neither its events nor its row — and
/// is reported here: the session was adopted (or handed over) and whoever runs it now
/// writes its history. The owner's registry hears of it and leaves the SFU at once.
public final class OwnershipFence: Sendable {
    /// This instance: stamped on every event it writes (`instance_id`).
    public let instanceID: String
    private let listener = Mutex<(@Sendable ([Stale]) -> Void)?>(nil)
    private let counts = Mutex((staleWrites: 0, droppedEvents: 0))

    /// A session's writes that matched no row: the epoch they carried, and how many
    /// events were dropped with them.
    public struct Stale: Sendable, Equatable {
        public var sessionID: String
        public var epoch: Int64
        public var droppedEvents: Int

        public init(sessionID: String, epoch: Int64, droppedEvents: Int) {
            self.sessionID = sessionID
            self.epoch = epoch
            self.droppedEvents = droppedEvents
        }
    }

    public init(instanceID: String) {
        self.instanceID = instanceID
    }

    /// Who hears of stale writes (the registry); called after the batch committed.
    public func onStale(_ listener: @escaping @Sendable ([Stale]) -> Void) {
        self.listener.withLock { $0 = listener }
    }

    /// Writes refused so far (one per session per batch), and the events dropped with them.
    public var totals: (staleWrites: Int, droppedEvents: Int) { counts.withLock { $0 } }

    public func report(_ stale: [Stale]) {
        guard !stale.isEmpty else { return }
        counts.withLock { counts in
            counts.staleWrites += stale.count
            counts.droppedEvents += stale.reduce(0) { $0 + $1.droppedEvents }
        }
        listener.withLock { $0 }?(stale)
    }
}
