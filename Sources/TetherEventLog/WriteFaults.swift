import Synchronization

/// A fault-injection hook for the writer (tests only): lets `commits` transactions
/// through, then fails every later one, freezing the file as a crash between two
/// commits would leave it.
public final class WriteFaults: Sendable {
    private let remaining: Atomic<Int>

    public struct Crashed: Error, CustomStringConvertible {
        public var description: String { "simulated crash: no more commits" }
    }

    public init(commits: Int) { remaining = Atomic(commits) }

    func admitCommit() throws {
        guard remaining.subtract(1, ordering: .relaxed).newValue >= 0 else { throw Crashed() }
    }
}
