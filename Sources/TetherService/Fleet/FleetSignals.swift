import Synchronization
import TetherPostgresStore

/// Wake-ups from the fleet's `LISTEN` connection, for whoever waits on this instance
/// (a create placed elsewhere, a command sent to an owner). A wake-up is a hint: a
/// waiter re-reads the database after it, and also after a short bound without one,
/// so a notification lost with a connection delays an answer, never loses it.
final class FleetSignals: Sendable {
    private struct Waiter {
        var notification: PostgresFleet.Notification
        var continuation: CheckedContinuation<Void, Never>
    }

    private let state = Mutex((next: UInt64(0), waiters: [UInt64: Waiter]()))

    /// Wakes everyone waiting for `notification`.
    func post(_ notification: PostgresFleet.Notification) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let matching = state.waiters.filter { $0.value.notification == notification }
            for id in matching.keys { state.waiters[id] = nil }
            return matching.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when `notification` is posted, or after `bound` (short: the caller
    /// re-reads and waits again).
    func wait(for notification: PostgresFleet.Notification, upTo bound: Duration) async {
        await withCheckedContinuation { continuation in
            let id = state.withLock { state -> UInt64 in
                state.next += 1
                state.waiters[state.next] = Waiter(notification: notification, continuation: continuation)
                return state.next
            }
            Task { [weak self] in
                try? await Task.sleep(for: bound)
                self?.expire(id)
            }
        }
    }

    private func expire(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
    }
}
