import DequeModule
import Synchronization

/// Caps reconnect attempts service-wide: at most `maxInFlight` at once, and starts
/// spread by an ``AdmissionSchedule``. Waiting is cancellable, so a session whose
/// deadline passes while queued leaves nothing behind. Releasing is synchronous, so an
/// ``AdmissionTicket`` can give its place back from wherever it is dropped.
public final class ReconnectLimiter: Sendable {
    public let maxInFlight: Int
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var schedule: AdmissionSchedule
        var inFlight = 0
        var peak = 0
        /// A deque: a storm queues thousands, and handing a place over takes the oldest
        /// (an array's removeFirst moved every other waiter, under the lock, per release).
        var waiters = Deque<(id: UInt64, continuation: CheckedContinuation<Void, any Error>)>()
        var nextWaiter: UInt64 = 0
    }

    public init(maxInFlight: Int, perSecond: Int) {
        precondition(maxInFlight >= 1)
        self.maxInFlight = maxInFlight
        self.state = Mutex(State(schedule: AdmissionSchedule(perSecond: perSecond)))
    }

    /// Waits for a place and a start slot. Pair every successful call with ``release()``
    /// (or take an ``AdmissionTicket``, which does).
    public func acquire() async throws {
        let (admitted, id) = state.withLock { state -> (Bool, UInt64) in
            if state.inFlight < maxInFlight {
                state.inFlight += 1
                state.peak = max(state.peak, state.inFlight)
                return (true, 0)
            }
            state.nextWaiter += 1
            return (false, state.nextWaiter)
        }
        if !admitted {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    state.withLock { $0.waiters.append((id, continuation)) }
                    // A cancel that came before the append found nothing to remove.
                    if Task.isCancelled { cancelWaiter(id) }
                }
            } onCancel: {
                cancelWaiter(id)
            }
            // The releaser handed its place over: inFlight already counts this one.
        }
        let start = state.withLock { $0.schedule.reserve(now: .now, unitRandom: Double.random(in: 0..<1)) }
        do {
            try await Task.sleep(until: start, clock: .continuous)
        } catch {
            release()
            throw error
        }
    }

    /// Callers holding a place (admitted or waiting for their start slot).
    public var inFlightCount: Int { state.withLock { $0.inFlight } }
    /// Callers queued for a place.
    public var waiting: Int { state.withLock { $0.waiters.count } }
    public var peakInFlight: Int { state.withLock { $0.peak } }

    public func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.inFlight -= 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }

    private func cancelWaiter(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
        waiter?.resume(throwing: CancellationError())
    }
}
