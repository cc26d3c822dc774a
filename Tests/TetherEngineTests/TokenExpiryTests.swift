import Foundation
import Testing
@testable import TetherEngine
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct TokenExpiryTests {
    func jwt(_ claims: String) -> String {
        func encode(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return encode(#"{"alg":"HS256"}"#) + "." + encode(claims) + ".sig"
    }

    @Test func readsExpWithoutVerifying() {
        #expect(TokenExpiry.expiresAt(jwt(#"{"exp":1800000000}"#)) == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(TokenExpiry.expiresAt(jwt(#"{"user_id":"a"}"#)) == nil)
        #expect(TokenExpiry.expiresAt("not-a-jwt") == nil)
        #expect(TokenExpiry.expiresAt(jwt("not json")) == nil)
    }

    @Test func refreshesATenthOfTheLifeBeforeAtMostAMinute() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(TokenExpiry.refreshDelay(expiresAt: now + 100, now: now) == .seconds(90))
        #expect(TokenExpiry.refreshDelay(expiresAt: now + 3600, now: now) == .seconds(3540))
        #expect(TokenExpiry.refreshDelay(expiresAt: now + 2, now: now) == .milliseconds(1800))
    }

    @Test func expiredOrAbsurdExpiriesNeverLoopOrTrap() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(TokenExpiry.refreshDelay(expiresAt: now - 10, now: now) == nil, "expired: the next refusal fetches one")
        #expect(TokenExpiry.refreshDelay(expiresAt: now + 0.5, now: now) == nil)
        #expect(TokenExpiry.refreshDelay(expiresAt: Date(timeIntervalSince1970: 1e17), now: now) == .seconds(86_400), "looked at again in a day")
        let huge = TokenExpiry.expiresAt(jwt(#"{"exp":1e300}"#))
        #expect(huge.flatMap { TokenExpiry.refreshDelay(expiresAt: $0, now: now) } == .seconds(86_400))
    }

    @Test(arguments: ["9223372036854775807", "-9223372036854775808", "1e300", "-1e300", "18446744073709551615", "-5", "\"soon\""])
    func anyExpAPeerSendsGivesAFiniteAnswer(exp: String) {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let read = TokenExpiry.expiresAt(jwt(#"{"exp":\#(exp)}"#))
        let delay = read.flatMap { TokenExpiry.refreshDelay(expiresAt: $0, now: now) }
        if let delay {
            #expect(delay > .zero && delay <= .seconds(86_400), "\(exp): \(delay)")
            // What the runner then does with it must not trap.
            _ = ContinuousClock.now + delay
        }
    }

    /// Tokens issued together are not refreshed together: the expiry refresh is armed
    /// somewhere in the last tenth of the wait, by the random draw given.
    @Test func theExpiryRefreshIsJittered() throws {
        let wallNow = Date(timeIntervalSince1970: 1_800_000_000)
        let now = ContinuousClock.now
        let token = jwt(#"{"exp":1800003600}"#)
        func armedAt(_ unitRandom: Double) -> ContinuousClock.Instant? {
            var machine = Reconnector(policy: ReconnectPolicy(), nodes: ["ws://a/ws"], token: token, refreshesCredentials: true)
            for action in machine.start(callID: "c", userID: "u", now: now, wallNow: wallNow, unitRandom: unitRandom) {
                if case .armTimer(.credentialsExpiry, let at) = action { return at }
            }
            return nil
        }
        let delay = try #require(TokenExpiry.refreshDelay(expiresAt: Date(timeIntervalSince1970: 1_800_003_600), now: wallNow))
        #expect(armedAt(0) == now + delay)
        #expect(armedAt(1) == now + delay - delay / 10)
        #expect(armedAt(0.5) == now + delay - delay / 20)
    }
}
