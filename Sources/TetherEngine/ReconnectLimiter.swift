/// Caps reconnect attempts service-wide: at most `maxInFlight` at once, and starts
/// spread by an ``AdmissionSchedule``. Waiting is cancellable, so a session whose
/// deadline passes while queued leaves nothing behind.
public actor ReconnectLimiter {
    public let maxInFlight: Int
    private var schedule: AdmissionSchedule
    private var inFlight = 0
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiter: UInt64 = 0
    public private(set) var peakInFlight = 0

    public init(maxInFlight: Int, perSecond: Int) {
        precondition(maxInFlight >= 1)
        self.maxInFlight = maxInFlight
        self.schedule = AdmissionSchedule(perSecond: perSecond)
    }

    /// Waits for a place and a start slot. Pair every successful call with ``release()``.
    public func acquire() async throws {
        if inFlight < maxInFlight {
            inFlight += 1
        } else {
            nextWaiter += 1
            let id = nextWaiter
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        waiters.append((id, continuation))
                    }
                }
            } onCancel: {
                Task { await self.cancelWaiter(id) }
            }
            // The releaser handed its place over: inFlight already counts this one.
        }
        peakInFlight = max(peakInFlight, inFlight)
        let start = schedule.reserve(now: .now, unitRandom: Double.random(in: 0..<1))
        do {
            try await Task.sleep(until: start, clock: .continuous)
        } catch {
            release()
            throw error
        }
    }

    /// Callers holding a place (admitted or waiting for their start slot).
    public var inFlightCount: Int { inFlight }
    /// Callers queued for a place.
    public var waiting: Int { waiters.count }

    public func release() {
        if waiters.isEmpty {
            inFlight -= 1
        } else {
            waiters.removeFirst().continuation.resume()
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}
