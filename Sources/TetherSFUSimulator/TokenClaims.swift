import Crypto
import Foundation

/// The claims the simulator reads from an SFU token (a JWT): the call and the user.
struct TokenClaims: Sendable, Equatable {
    var callCID: String
    var userID: String
    /// The `exp` claim (unix seconds), when the token has one.
    var expiresAt: Int64?

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(callCID: String, userID: String, expiresAt: Int64? = nil) {
        self.callCID = callCID
        self.userID = userID
        self.expiresAt = expiresAt
    }

    /// Reads the payload; checks the HS256 signature only when `secret` is given.
    init(token: String, secret: String?) throws {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw Invalid(description: "the token is not a JWT (header.payload.signature)") }
        guard let payload = Self.base64URLDecode(parts[1]),
              let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
        else { throw Invalid(description: "the token's payload is not base64url JSON") }
        if let secret {
            guard let signature = Self.base64URLDecode(parts[2]) else { throw Invalid(description: "the token's signature is not base64url") }
            let key = SymmetricKey(data: Data(secret.utf8))
            let signed = Data("\(parts[0]).\(parts[1])".utf8)
            guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) else {
                throw Invalid(description: "the token's signature does not match")
            }
            // As Stream's SFU: a signed token past its `exp` is refused (UNAUTHENTICATED).
            if let exp = (object["exp"] as? NSNumber)?.int64Value, exp <= Int64(Date().timeIntervalSince1970) {
                throw Invalid(description: "the token expired at \(exp)")
            }
        }
        expiresAt = (object["exp"] as? NSNumber)?.int64Value
        guard let call = object["call_cid"] as? String, !call.isEmpty else { throw Invalid(description: "the token has no call_cid claim") }
        guard let user = object["user_id"] as? String, !user.isEmpty else { throw Invalid(description: "the token has no user_id claim") }
        callCID = call
        userID = user
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    /// Makes an unsigned-looking (or HS256-signed, given a secret) token for tests and demos.
    static func makeToken(callCID: String, userID: String, secret: String?, expiresAt: Int64? = nil) -> String {
        func encode(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let header = encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        var fields: [String: Any] = ["call_cid": callCID, "user_id": userID]
        if let expiresAt { fields["exp"] = expiresAt }
        let claims = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        let payload = encode(claims)
        let key = SymmetricKey(data: Data((secret ?? "unsigned").utf8))
        let signature = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(payload)".utf8), using: key)
        return "\(header).\(payload).\(encode(Data(signature)))"
    }
}

/// Builds SFU tokens the simulator accepts: `header.payload.signature`, HS256.
public enum SimulatorToken {
    /// `expiresAt`: the `exp` claim in unix seconds, checked when the simulator has a secret.
    public static func make(callCID: String, userID: String, secret: String? = nil, expiresAt: Int64? = nil) -> String {
        TokenClaims.makeToken(callCID: callCID, userID: userID, secret: secret, expiresAt: expiresAt)
    }
}
