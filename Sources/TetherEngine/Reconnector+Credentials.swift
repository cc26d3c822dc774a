import Foundation
import TetherEvents

/// The SFU token and when to refresh it: replaced through the API, fetched from the
/// credentials endpoint (before a REJOIN or MIGRATE and on an unauthenticated refusal,
/// by the ``AttemptExecutor``; shortly before the token's `exp`, on this machine's timer).
extension Reconnector {
    /// New credentials: `urls` (if any) replace the node list once no attempt is in
    /// flight. Recorded (`credentials_updated` or `credentials_refreshed`, never the
    /// token) and stored; the expiry refresh is rescheduled for the new token.
    public mutating func credentialsChanged(
        token newToken: String, urls: [String]?, origin: CredentialsOrigin, now: Instant, wallNow: Date, unitRandom: Double
    ) -> [Action] {
        guard !state.isTerminal else { return [] }
        token = newToken
        var actions = urls.map { nodesReplaced($0) } ?? []
        actions.append(.storeCredentials(token: newToken, nodes: pendingNodes ?? nodes))
        switch origin {
        case .api: actions.append(.emit(.credentialsUpdated(reason: urls == nil ? "token" : "token_and_urls")))
        case .endpoint(let reason): actions.append(.emit(.credentialsRefreshed(reason: reason)))
        }
        return actions + scheduleExpiryRefresh(now: now, wallNow: wallNow, unitRandom: unitRandom)
    }

    /// The credentials endpoint failed us; the join goes on with the old token.
    public func credentialsRefreshFailed(reason: String, error: String) -> [Action] {
        note(.credentialsRefreshFailed(reason: reason, error: error))
    }

    /// With a credentials source and a token that says when it expires (a JWT's `exp`),
    /// arms a refresh shortly before, jittered over the last tenth of the wait so that
    /// tokens issued together are not all refreshed together. Only for a token that
    /// lives longer than the one already scheduled for: an endpoint answering an expired
    /// or the same token must not start a loop.
    mutating func scheduleExpiryRefresh(now: Instant, wallNow: Date, unitRandom: Double) -> [Action] {
        guard refreshesCredentials, !state.isTerminal, let expiresAt = TokenExpiry.expiresAt(token) else { return [] }
        if let scheduled = expiryScheduledFor, expiresAt <= scheduled { return [] }
        guard let delay = TokenExpiry.refreshDelay(expiresAt: expiresAt, now: wallNow) else { return [] }
        expiryScheduledFor = expiresAt
        expiryArmed = true
        let jitter = delay * (min(max(unitRandom, 0), 1) / 10)
        return [.armTimer(.credentialsExpiry, at: now + (delay - jitter))]
    }

    mutating func expiryRefreshDue() -> [Action] {
        guard expiryArmed, !state.isTerminal else { return [] }
        expiryArmed = false
        return [.refreshCredentials(reason: "expiring")]
    }
}
