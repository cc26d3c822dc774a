import NIOConcurrencyHelpers
import NIOCore

/// The health-check wake-ups of every connection on one event loop, in buckets by the
/// 20 ms tick they are due at, behind one NIO scheduled task for the earliest occupied
/// tick.
///
/// Measured at 10,000 idle sessions (BENCHMARKS.md, "Where idle sessions' CPU goes"):
/// with a scheduled task per connection, NIO's task heap — re-sifted, with a copy and a
/// retain of every task it moves, each time a due task is popped — was about a fifth of
/// the process's CPU. Here a connection's wake-up is a dictionary entry, and the heap
/// holds one task per event loop. Deadlines are the same grid ticks as before, so no
/// detection bound moves: a wake-up runs at its tick, never before.
///
/// Used only on its event loop (`NIOLoopBound` in the registry enforces it).
final class HealthTickWheel {
    typealias Token = UInt64

    private unowned let loop: any EventLoop
    /// Due tick (uptime ns, on the grid) → the wake-ups due then, by token.
    private var buckets: [UInt64: [Token: () -> Void]] = [:]
    /// The occupied ticks, earliest first: a few hundred at most (interval ÷ grid).
    private var ticks: [UInt64] = []
    private var armed: (tick: UInt64, task: Scheduled<Void>)?
    private var nextToken: Token = 0

    init(loop: any EventLoop) {
        self.loop = loop
    }

    var pendingCount: Int { buckets.values.reduce(0) { $0 + $1.count } }

    /// Runs `body` on the loop at `tick` (or at once if it has passed). Returns the token
    /// that cancels it.
    func schedule(at tick: NIODeadline, _ body: @escaping () -> Void) -> Token {
        loop.preconditionInEventLoop()
        nextToken += 1
        let key = tick.uptimeNanoseconds
        if buckets[key] == nil {
            buckets[key] = [:]
            ticks.insert(key, at: ticks.firstIndex { $0 > key } ?? ticks.endIndex)
        }
        buckets[key]![nextToken] = body
        arm()
        return nextToken
    }

    /// Forgets a wake-up that has not run; a token that ran or was cancelled is ignored.
    func cancel(_ token: Token, at tick: NIODeadline) {
        let key = tick.uptimeNanoseconds
        guard buckets[key]?.removeValue(forKey: token) != nil, buckets[key]?.isEmpty == true else { return }
        buckets[key] = nil
        ticks.removeAll { $0 == key }
        // An armed task for a tick now empty just finds nothing due and re-arms.
    }

    private func arm() {
        guard let earliest = ticks.first else { return }
        if let armed, armed.tick <= earliest { return }
        armed?.task.cancel()
        let task = loop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(earliest)) { [self] in
            self.armed = nil
            self.fireDue()
        }
        armed = (earliest, task)
    }

    private func fireDue() {
        let now = loop.now.uptimeNanoseconds
        // Take each due bucket out before running it: a wake-up schedules its next one,
        // possibly into a tick that is due already; that runs on the next turn.
        var due: [[Token: () -> Void]] = []
        while let tick = ticks.first, tick <= now {
            ticks.removeFirst()
            if let bucket = buckets.removeValue(forKey: tick) { due.append(bucket) }
        }
        for bucket in due {
            for body in bucket.values { body() }
        }
        arm()
    }
}

extension HealthTickWheel {
    /// One wheel per event loop, made on first use there. A loop that has gone (tests'
    /// embedded loops) drops its wheel at the next lookup; its address may be reused.
    static func on(_ loop: any EventLoop) -> HealthTickWheel {
        loop.preconditionInEventLoop()
        return registry.withLockedValue { entries in
            entries.removeAll { $0.loop == nil }
            if let entry = entries.first(where: { $0.loop === loop }) { return entry.wheel.value }
            let wheel = HealthTickWheel(loop: loop)
            entries.append(Entry(loop: loop, wheel: NIOLoopBound(wheel, eventLoop: loop)))
            return wheel
        }
    }

    private final class Entry: Sendable {
        weak let loop: (any EventLoop)?
        let wheel: NIOLoopBound<HealthTickWheel>

        init(loop: any EventLoop, wheel: NIOLoopBound<HealthTickWheel>) {
            self.loop = loop
            self.wheel = wheel
        }
    }

    private static let registry = NIOLockedValueBox<[Entry]>([])
}
