import Foundation
@testable import TetherEngine

extension Reconnector {
    /// Joins the primary node the way a session does: `start`, then its first attempt
    /// (attempt 1, generation 1) answered. Returns what the join's answer produced.
    @discardableResult
    mutating func joinForTest(
        sfuSessionID: String = "s1", window: Duration? = nil, now: ContinuousClock.Instant = .now
    ) -> [Action] {
        _ = start(callID: "c", userID: "u", now: now, wallNow: Date(), unitRandom: 0)
        guard let attempt = attemptInFlight else { return [] }
        return joinFinished(
            attempt: attempt,
            result: .joined(JoinAnswer(sfuSessionID: sfuSessionID, reconnected: false, fastReconnectWindow: window, participantCount: 1)),
            now: now, unitRandom: 0)
    }
}

extension Array where Element == Reconnector.Action {
    /// The plan of the attempt these actions start, if any.
    var startedPlan: Reconnector.AttemptPlan? {
        for action in self { if case .startAttempt(_, let plan) = action { return plan } }
        return nil
    }

    var cancelsAnAttempt: Bool { contains { if case .cancelAttempt = $0 { true } else { false } } }
}
