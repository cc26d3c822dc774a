/// Fresh SFU credentials for one session: where `--credentials-url` answers come from.
/// Called before a REJOIN or MIGRATE, after a join refused as unauthenticated, and
/// shortly before a JWT expires; the argument is the reason.
public struct CredentialsSource: Sendable {
    public struct Credentials: Sendable, Equatable {
        public var token: String
        public var urls: [String]?
        public init(token: String, urls: [String]?) {
            self.token = token
            self.urls = urls
        }
    }

    public let fetch: @Sendable (_ reason: String) async throws -> Credentials

    public init(fetch: @escaping @Sendable (_ reason: String) async throws -> Credentials) {
        self.fetch = fetch
    }
}
