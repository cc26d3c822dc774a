import Foundation

/// A key that signs webhooks (or credentials requests): written the Standard Webhooks
/// way, `whsec_<base64 of the key>`, or as raw text whose UTF-8 bytes are the key (what
/// `--webhook-secret` took before). Never logged, never shown.
struct WebhookSecret: Sendable, Equatable {
    let key: [UInt8]

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(parsing text: String) throws(Invalid) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("whsec_") {
            guard let data = Data(base64Encoded: String(trimmed.dropFirst("whsec_".count))), data.count >= 16 else {
                throw Invalid(description: "a whsec_ secret must be the base64 of at least 16 bytes (24 to 64 suggested)")
            }
            key = Array(data)
        } else {
            guard trimmed.utf8.count >= 16 else { throw Invalid(description: "a secret must be at least 16 characters") }
            key = Array(trimmed.utf8)
        }
    }

    init(key: [UInt8]) { self.key = key }

    /// Reads secrets from a file: one per line, blank lines and `#` comments skipped.
    static func read(file path: String) throws -> [WebhookSecret] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Invalid(description: "cannot read the secret file \(path): \(error.localizedDescription)")
        }
        let secrets = try text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { line throws(Invalid) in try WebhookSecret(parsing: line) }
        guard !secrets.isEmpty else { throw Invalid(description: "the secret file \(path) holds no secret") }
        return secrets
    }
}
