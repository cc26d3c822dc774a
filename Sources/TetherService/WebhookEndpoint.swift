import Foundation
import TetherEventLog

/// One receiver of webhooks as configured: a stable id, its URL, and the secrets that
/// sign for it (its own, or the service's `--webhook-secret`s).
struct WebhookEndpoint: Sendable {
    var id: String
    var url: String
    var secrets: [WebhookSecret]

    var routing: WebhookRouting.Endpoint { .init(id: id, url: url) }

    /// Every configured endpoint: the config file's (`{"endpoints": [{"id", "url",
    /// "secret_file"?}]}`), then each `--webhook-url URL[#secret-file]`, whose id is its
    /// position (`1`, `2`, …) — a config file's ids are what keep a backlog across URL
    /// changes and reorderings.
    static func resolve(urls: [String], configFile: String?, secrets: [String]) throws -> [WebhookEndpoint] {
        let shared = try secrets.map { text throws -> WebhookSecret in
            do { return try WebhookSecret(parsing: text) } catch { throw ServiceConfiguration.Invalid(description: "--webhook-secret: \(error)") }
        }
        var endpoints: [WebhookEndpoint] = []
        if let configFile {
            struct File: Decodable {
                struct Entry: Decodable {
                    var id: String
                    var url: String
                    var secret_file: String?
                }
                var endpoints: [Entry]
            }
            let file: File
            do {
                file = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: configFile)))
            } catch {
                throw ServiceConfiguration.Invalid(description: "--webhook-config \(configFile): \(error)")
            }
            for entry in file.endpoints {
                endpoints.append(WebhookEndpoint(id: entry.id, url: entry.url, secrets: try entry.secret_file.map(readSecrets) ?? shared))
            }
        }
        for (index, text) in urls.enumerated() {
            let parts = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
            let url = String(parts[0])
            let secrets = parts.count == 2 ? try readSecrets(String(parts[1])) : shared
            endpoints.append(WebhookEndpoint(id: String(index + 1), url: url, secrets: secrets))
        }
        for endpoint in endpoints {
            guard let parsed = URL(string: endpoint.url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
                throw ServiceConfiguration.Invalid(description: "'\(endpoint.url)' is not an http or https URL (webhook URLs must be)")
            }
            guard !endpoint.id.isEmpty, endpoint.id.count <= 64, endpoint.id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ServiceConfiguration.Invalid(description: "webhook endpoint id '\(endpoint.id)' must be 1 to 64 letters, digits, '-', '_' or '.'")
            }
            guard !endpoint.secrets.isEmpty else {
                throw ServiceConfiguration.Invalid(description: "webhook endpoint \(endpoint.id) has no secret: set --webhook-secret or its own secret file")
            }
        }
        if Set(endpoints.map(\.id)).count != endpoints.count {
            throw ServiceConfiguration.Invalid(description: "webhook endpoint ids must be unique (the config file's and --webhook-url's 1, 2, …)")
        }
        return endpoints
    }

    private static func readSecrets(_ path: String) throws -> [WebhookSecret] {
        do { return try WebhookSecret.read(file: path) } catch { throw ServiceConfiguration.Invalid(description: "\(error)") }
    }
}
