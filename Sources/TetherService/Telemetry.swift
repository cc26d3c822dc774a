import CoreMetrics

/// What an OpenTelemetry export (`--otel-endpoint`) adds to the service: a metrics
/// factory that every Tether metric also records to (the same names as `/metrics`),
/// and a span per HTTP request. The tracer itself is the process-wide one the command
/// bootstrapped; the exporters run as services beside the application.
public struct Telemetry: Sendable {
    public var metricsFactory: (any MetricsFactory)?
    public var tracesRequests: Bool

    public init(metricsFactory: (any MetricsFactory)?, tracesRequests: Bool) {
        self.metricsFactory = metricsFactory
        self.tracesRequests = tracesRequests
    }
}
