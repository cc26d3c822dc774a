import Synchronization

/// Counts open `/v1/events/stream` readers against `--max-event-streams`.
final class EventStreamSlots: Sendable {
    let limit: Int
    private let open = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// A slot, or nil when every slot is taken. The slot frees itself when released.
    func acquire() -> Slot? {
        let granted = open.withLock { open -> Bool in
            guard open < limit else { return false }
            open += 1
            return true
        }
        return granted ? Slot(owner: self) : nil
    }

    var inUse: Int { open.withLock { $0 } }

    fileprivate func release() { open.withLock { $0 -= 1 } }

    /// Held by one stream's response body; freed however the body ends (or if it never
    /// runs because the client left before the head was written).
    final class Slot: Sendable {
        private let owner: EventStreamSlots
        fileprivate init(owner: EventStreamSlots) { self.owner = owner }
        deinit { owner.release() }
    }
}
