import Foundation

/// What an endpoint's answer (or its silence) means for one delivery, the way Standard
/// Webhooks recommends: 2xx delivered; 5xx, 408, 409, 425, 429, timeouts and connection
/// errors retried (after `Retry-After` when the endpoint says, clamped to a sane range);
/// 410 disables the endpoint; any other 4xx fails that delivery alone, so the session's
/// queue moves on. Pure.
enum WebhookResponseClass: Equatable, Sendable {
    case delivered
    case retry(after: Duration?)
    /// Final for this delivery; the endpoint is fine.
    case rejected
    /// The endpoint asked to receive nothing more.
    case disableEndpoint

    /// The shortest and longest wait a `Retry-After` may ask for: a peer's number,
    /// clamped before it becomes a duration.
    static let retryAfterRange: ClosedRange<Int64> = 1...3600

    static func classify(status: Int?, retryAfter: String? = nil) -> WebhookResponseClass {
        guard let status else { return .retry(after: nil) }
        switch status {
        case 200..<300: return .delivered
        case 410: return .disableEndpoint
        case 408, 409, 425, 429, 500..<600: return .retry(after: retryAfter.flatMap(Self.seconds))
        default: return .rejected
        }
    }

    /// `Retry-After` as seconds (the HTTP-date form is taken as "not said").
    static func seconds(_ header: String) -> Duration? {
        guard let value = Int64(header.trimmingCharacters(in: .whitespaces)) else { return nil }
        return .seconds(min(max(value, retryAfterRange.lowerBound), retryAfterRange.upperBound))
    }
}
