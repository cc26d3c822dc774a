import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/sessions/{id}` on Hummingbird directly: the hottest read (a frontend polls
/// its agent's state) answers with the session's cached JSON, without the OpenAPI
/// runtime's per-request decoding, encoding and type lookups. The operation stays in
/// openapi.yaml and its answer is the same `Session` schema, written with the same
/// encoder options; `GuardedRouteTransport` leaves this one operation to this route.
///
/// Registered on the guarded group: the bearer check runs on what the router matched,
/// as for every other operation.
struct SessionReadRoute: Sendable {
    static let method = HTTPRequest.Method.get
    static let path = "/v1/sessions/{id}"

    let registry: SessionRegistry

    func register(on group: RouterGroup<TetherRequestContext>) {
        group.on(RouterPath(Self.path), method: Self.method) { _, context -> Response in
            // The runtime percent-decodes path parameters; so does this route.
            let raw = context.parameters.get("id") ?? ""
            let id = raw.removingPercentEncoding ?? raw
            guard let body = try await registry.sessionBody(id: id) else { throw APIError.notFound(session: id) }
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: body))
        }
    }
}
