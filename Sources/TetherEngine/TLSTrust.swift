import NIOSSL

/// Which certificate authorities a `wss://` dial trusts: the system's, plus optionally
/// a PEM bundle of the operator's (`--sfu-ca-file`, for an SFU behind a private CA).
/// Certificates and host names are always verified.
public struct TLSTrust: Sendable {
    /// Built once: loading the trust store for every dial would cost more than the dial.
    let context: NIOSSLContext?

    /// The system trust store (the context is made on first use by each dial).
    public static let system = TLSTrust(context: nil)

    private init(context: NIOSSLContext?) {
        self.context = context
    }

    /// The system trust plus the certificates in the PEM file at `caFile`.
    public init(caFile: String) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.additionalTrustRoots = [.file(caFile)]
        configuration.certificateVerification = .fullVerification
        self.context = try NIOSSLContext(configuration: configuration)
    }

    func makeContext() throws -> NIOSSLContext {
        if let context { return context }
        return try NIOSSLContext(configuration: .makeClientConfiguration())
    }
}
