import HTTPTypes
import TetherEvents

/// An error the API answers with: a status and the one JSON error shape.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var sfuCode: String?
    public var sessionID: String?

    public init(_ status: HTTPResponse.Status, code: String, message: String, sfuCode: String? = nil, sessionID: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.sfuCode = sfuCode
        self.sessionID = sessionID
    }

    static func badRequest(_ message: String, code: String = "bad_request") -> APIError {
        APIError(.badRequest, code: code, message: message)
    }

    static func invalid(_ message: String, code: String = "validation_failed") -> APIError {
        APIError(.unprocessableContent, code: code, message: message)
    }

    static func notFound(session id: String) -> APIError {
        APIError(.notFound, code: "session_not_found", message: "no session with id '\(id)'")
    }

    static func storageUnavailable(_ detail: String) -> APIError {
        APIError(.serviceUnavailable, code: "storage_unavailable", message: "\(detail); nothing was changed unless the message says so, retry later")
    }

    static func queryTimeout(_ limit: Duration) -> APIError {
        APIError(
            .gatewayTimeout, code: "query_timeout",
            message: "the query did not finish within \(limit.wholeMilliseconds) ms; narrow it (a shorter since/until window or a filter)")
    }

    static let forbidden = APIError(.forbidden, code: "forbidden", message: "this token may only read (GET, HEAD); writes need a full API token")

    static let unauthorized = APIError(.unauthorized, code: "unauthorized", message: "a valid 'Authorization: Bearer <token>' header is required")
}
