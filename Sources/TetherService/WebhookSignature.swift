import Crypto
import Foundation

/// `Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<prefix><t>.<raw body>")>`,
/// the scheme payment providers use: the timestamp is signed with the body, so a
/// receiver can reject replays of old deliveries. Webhooks sign with no prefix (as
/// before Standard Webhooks headers existed); credentials requests with `credentials.`
/// and a secret of their own, so a webhook signature can never pass as one.
struct WebhookSignature: Sendable {
    let secret: WebhookSecret
    var prefix = ""

    func header(body: String, timestamp: Int64) -> String {
        "t=\(timestamp),v1=\(hex(body: body, timestamp: timestamp))"
    }

    func hex(body: String, timestamp: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(prefix)\(timestamp).\(body)".utf8), using: SymmetricKey(data: secret.key))
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}
