import Synchronization

/// A fault-injection hook for the writer (tests only): once armed, lets `commits` more
/// transactions through, then fails every later one — the file frozen as a crash
/// between two commits would leave it — until healed (the disk back).
public final class WriteFaults: Sendable {
    /// Commits still allowed; negative when not armed.
    private let remaining = Atomic<Int>(-1)

    public struct Crashed: Error, CustomStringConvertible {
        public var description: String { "simulated crash: no more commits" }
    }

    public init() {}

    public func arm(commits: Int) { remaining.store(commits, ordering: .sequentiallyConsistent) }
    public func heal() { remaining.store(-1, ordering: .sequentiallyConsistent) }

    public func admitCommit() throws {
        while true {
            let current = remaining.load(ordering: .sequentiallyConsistent)
            if current < 0 { return }
            if current == 0 { throw Crashed() }
            if remaining.compareExchange(expected: current, desired: current - 1, ordering: .sequentiallyConsistent).exchanged { return }
        }
    }
}
