import Crypto
import Foundation

/// `Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
/// the scheme payment providers use: the timestamp is signed with the body, so a
/// receiver can reject replays of old deliveries.
struct WebhookSignature {
    let secret: String

    func header(body: String, timestamp: Int64) -> String {
        "t=\(timestamp),v1=\(hex(body: body, timestamp: timestamp))"
    }

    func hex(body: String, timestamp: Int64) -> String {
        let key = SymmetricKey(data: Data(secret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(body)".utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}
