import Foundation
import NIOSSL
import PostgresNIO

/// `postgres://user[:password]@host[:port]/dbname[?sslmode=…]` (or `postgresql://`), as
/// libpq reads it, for the parts Tether uses. Never printed with its password:
/// ``redacted`` is what logs and messages show.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// libpq's `sslmode`: `disable`, `allow`, `prefer` (the default), `require`,
    /// `verify-ca`, `verify-full`.
    public var sslMode: String

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(parsing text: String) throws(Invalid) {
        guard Self.isPostgres(text), let components = URLComponents(string: text) else {
            throw Invalid(description: "not a postgres://user[:password]@host[:port]/dbname URL")
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw Invalid(description: "the PostgreSQL URL names no user (postgres://user@host/dbname)")
        }
        guard let host = components.host, !host.isEmpty else { throw Invalid(description: "the PostgreSQL URL names no host") }
        let database = String(components.path.dropFirst())
        guard !database.isEmpty, !database.contains("/") else {
            throw Invalid(description: "the PostgreSQL URL names no database (postgres://user@host/dbname)")
        }
        var sslMode = "prefer"
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(value) else {
                    throw Invalid(description: "sslmode must be disable, allow, prefer, require, verify-ca or verify-full")
                }
                sslMode = value
            default:
                throw Invalid(description: "the PostgreSQL URL's parameter '\(item.name)' is not supported (only sslmode)")
            }
        }
        self.user = user
        self.password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        self.host = host
        self.port = components.port ?? 5432
        self.database = database
        self.sslMode = sslMode
    }

    /// Printed, dumped or interpolated, the URL never shows its password.
    public var description: String { redacted }
    public var debugDescription: String { redacted }
    public var customMirror: Mirror { Mirror(self, children: ["url": redacted]) }

    /// The URL without its password: what logs, errors and `--help` examples show.
    public var redacted: String {
        let query = sslMode == "prefer" ? "" : "?sslmode=\(sslMode)"
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(shownHost):\(port)/\(database)\(query)"
    }

    /// libpq's modes as a TLS configuration and whether TLS is insisted on: `prefer`
    /// and `allow` try TLS without checking the certificate (as libpq does), `require`
    /// insists on TLS without checking it, `verify-ca` checks the chain, `verify-full`
    /// the chain and the host name; `disable` is nil.
    private var tlsMode: (configuration: TLSConfiguration, required: Bool)? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case "disable": return nil
        case "verify-ca": configuration.certificateVerification = .noHostnameVerification
        case "verify-full": break
        default: configuration.certificateVerification = .none
        }
        return (configuration, sslMode != "prefer" && sslMode != "allow")
    }

    /// The modes in a pool's terms.
    public var tls: PostgresClient.Configuration.TLS {
        guard let mode = tlsMode else { return .disable }
        return mode.required ? .require(mode.configuration) : .prefer(mode.configuration)
    }

    /// The same modes for a single `PostgresConnection` (the owner lock's).
    func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        guard let mode = tlsMode else { return .disable }
        let context = try NIOSSLContext(configuration: mode.configuration)
        return mode.required ? .require(context) : .prefer(context)
    }
}
