/// Stops calling an endpoint that keeps failing, and tries it again now and then.
///
/// A pure machine (time is an input): closed while calls succeed; open after
/// `threshold` failures in a row, for a pause that doubles each time it reopens (from
/// `initialPause` to `maxPause`); once the pause is over, half-open: one call goes
/// through, and its outcome closes the breaker or opens it again.
struct CircuitBreaker: Sendable, Equatable {
    typealias Instant = ContinuousClock.Instant

    enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Instant, pause: Duration)
        case halfOpen(pause: Duration, probing: Bool)
    }

    let threshold: Int
    let initialPause: Duration
    let maxPause: Duration
    private(set) var state: State = .closed(failures: 0)

    init(threshold: Int = 5, initialPause: Duration = .seconds(1), maxPause: Duration = .seconds(300)) {
        self.threshold = threshold
        self.initialPause = initialPause
        self.maxPause = maxPause
    }

    /// How many calls may start now, at most `wanted`.
    mutating func admits(_ wanted: Int, now: Instant) -> Int {
        switch state {
        case .closed:
            return wanted
        case .open(let until, let pause):
            guard now >= until else { return 0 }
            state = .halfOpen(pause: pause, probing: wanted > 0)
            return min(1, wanted)
        case .halfOpen(let pause, let probing):
            guard !probing, wanted > 0 else { return 0 }
            state = .halfOpen(pause: pause, probing: true)
            return 1
        }
    }

    mutating func succeeded() {
        state = .closed(failures: 0)
    }

    mutating func failed(now: Instant) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= threshold ? .open(until: now + initialPause, pause: initialPause) : .closed(failures: failures + 1)
        case .open:
            break
        case .halfOpen(let pause, _):
            let longer = min(pause * 2, maxPause)
            state = .open(until: now + longer, pause: longer)
        }
    }

    /// When calls may go again, while open.
    var reopensAt: Instant? {
        if case .open(let until, _) = state { return until }
        return nil
    }

    var isOpen: Bool {
        switch state {
        case .closed: false
        case .open, .halfOpen: true
        }
    }
}
