import Hummingbird

/// Counts every answered request in `tether_http_requests_total{method, route, status}`
/// and times it in `tether_http_request_duration_seconds{method, route}`. The route is
/// the pattern the router matched (`/v1/sessions/{id}`), never the raw path, so a
/// client cannot mint new series. Hummingbird's own `MetricsMiddleware` writes to the
/// process-wide metrics system; ours goes to the service's registry, as every Tether
/// metric does (several services share one test process).
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: TetherMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = context.endpointPath ?? "unmatched"
        do {
            let response = try await next(request, context)
            metrics.httpRequest(method: request.method.rawValue, route: route, status: response.status.code, duration: ContinuousClock.now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.httpRequest(method: request.method.rawValue, route: route, status: status, duration: ContinuousClock.now - start)
            throw error
        }
    }
}
