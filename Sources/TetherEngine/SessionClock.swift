import Foundation

/// The clocks a session runner reads: a monotonic one for every timer and duration, and
/// the wall clock for event times and token expiry. Injected, so a test can drive them.
public protocol SessionClock: Sendable {
    var now: ContinuousClock.Instant { get }
    var wallNow: Date { get }
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

/// The system's clocks.
public struct SystemSessionClock: SessionClock {
    public init() {}
    public var now: ContinuousClock.Instant { .now }
    public var wallNow: Date { Date() }
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}
