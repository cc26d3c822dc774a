import Crypto
import Foundation

/// Standard Webhooks (standardwebhooks.com) headers for one try: `webhook-id`,
/// `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256(key,
/// "<id>.<timestamp>.<body>")>`, one `v1,` entry per secret (space-separated), so a
/// receiver holding either the old or the new secret accepts during a rotation.
struct StandardWebhookSignature: Sendable {
    let secrets: [WebhookSecret]

    func headers(messageID: String, timestamp: Int64, body: String) -> [(name: String, value: String)] {
        let content = Data("\(messageID).\(timestamp).\(body)".utf8)
        let signatures = secrets.map { secret in
            "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secret.key))).base64EncodedString()
        }
        return [
            ("webhook-id", messageID),
            ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", signatures.joined(separator: " ")),
        ]
    }
}
