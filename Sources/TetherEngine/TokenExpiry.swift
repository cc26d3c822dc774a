import Foundation

/// Reads a JWT's `exp` claim, without verifying anything: Tether does not hold the
/// SFU's key, it only wants to refresh the token before the SFU refuses it.
enum TokenExpiry {
    /// When to fetch a fresh token for one expiring at `expiresAt`: a tenth of its
    /// remaining life (at most a minute) before, and no later than a day from now (a
    /// later `exp` is looked at again then). Nil when it has (nearly) expired already:
    /// the next join's refusal fetches one then. Any `exp`, however absurd, gives a
    /// finite answer.
    static func refreshDelay(expiresAt: Date, now: Date) -> Duration? {
        let remaining = expiresAt.timeIntervalSince(now)
        guard remaining.isFinite, remaining > 1 else { return nil }
        let margin = min(60, remaining / 10)
        return .milliseconds(Int64(min(remaining - margin, 86_400) * 1000))
    }

    static func expiresAt(_ token: String) -> Date? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let claims = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let exp = (claims["exp"] as? NSNumber)?.doubleValue
        else { return nil }
        return Date(timeIntervalSince1970: exp)
    }
}
