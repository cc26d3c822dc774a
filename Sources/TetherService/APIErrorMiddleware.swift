import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OpenAPIRuntime
import TetherEventLog

/// The API's edge: every error becomes the one JSON shape with a stable code.
///
/// The OpenAPI runtime throws `ServerError` for input it could not decode (bad JSON,
/// wrong types, a bad enum value, `limit=abc`), with `operationInput` still nil; those are
/// the client's fault (400), not the 500 with an empty body they would otherwise be.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            // swift-openapi-hummingbird percent-encodes header values ("%2Fv1%2F…").
            if let location = response.headers[.location], let decoded = location.removingPercentEncoding {
                response.headers[.location] = decoded
            }
            return response
        } catch let error as APIError {
            return Self.response(for: error)
        } catch let error as EventLog.StorageUnavailable {
            return Self.response(for: .storageUnavailable(error.description))
        } catch let error as ServerError {
            if let api = error.underlyingError as? APIError { return Self.response(for: api) }
            if let storage = error.underlyingError as? EventLog.StorageUnavailable {
                return Self.response(for: .storageUnavailable(storage.description))
            }
            if error.operationInput == nil {
                var detail = Self.describe(error.underlyingError, bodyless: request.method == .get || request.method == .head)
                if detail.hasSuffix("at ''") {
                    // A query or header value: the runtime does not say which one.
                    detail = "a query parameter or header has the wrong type in \(error.request.method) \(error.request.path ?? "")"
                }
                return Self.response(for: APIError.badRequest("the request could not be read: \(detail)"))
            }
            logger.error("request failed", metadata: ["operation": "\(error.operationID)", "error": "\(error.underlyingError)"])
            return Self.response(for: APIError(.internalServerError, code: "internal_error", message: "the request failed inside Tether"))
        } catch let error as HTTPError where error.status == .notFound {
            if let methods = RouteTable.methods(for: request.uri.path) {
                var response = Self.response(for: APIError(
                    .methodNotAllowed, code: "method_not_allowed",
                    message: "\(request.method) is not supported on \(request.uri.path); use \(methods.joined(separator: " or "))"))
                response.headers[.allow] = methods.joined(separator: ", ")
                return response
            }
            return Self.response(for: APIError(.notFound, code: "not_found", message: "no route \(request.method) \(request.uri.path)"))
        } catch let error as HTTPError {
            let code = switch error.status {
            case .notFound: "not_found"
            case .contentTooLarge: "body_too_large"
            case .methodNotAllowed: "method_not_allowed"
            case .unauthorized: "unauthorized"
            default: "http_\(error.status.code)"
            }
            return Self.response(for: APIError(error.status, code: code, message: error.body ?? error.status.reasonPhrase))
        } catch {
            logger.error("request failed", metadata: ["error": "\(error)"])
            return Self.response(for: APIError(.internalServerError, code: "internal_error", message: "the request failed inside Tether"))
        }
    }

    static func response(for error: APIError) -> Response {
        var payload: [String: String] = ["code": error.code, "message": error.message]
        if let sfuCode = error.sfuCode { payload["sfu_code"] = sfuCode }
        if let sessionID = error.sessionID { payload["session_id"] = sessionID }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(["error": payload])) ?? Data(#"{"error":{"code":"internal_error","message":""}}"#.utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if error.status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A decoding error in words a client can act on, without Swift type names.
    /// `bodyless`: the request had no body to decode, so an error at the root is a
    /// query parameter's (an enum value the spec does not list, say).
    static func describe(_ error: any Error, bodyless: Bool = false) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty && bodyless:
            return "a query parameter has a value that is not allowed (\(context.debugDescription.prefix(200)))"
        case DecodingError.keyNotFound(let key, let context):
            return "missing field '\(path(context.codingPath + [key]))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(path(context.codingPath))'"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the body is not valid JSON" : "invalid value at '\(path(context.codingPath))': \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
