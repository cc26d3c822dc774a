import Foundation
import Logging
import OTel
import ServiceLifecycle
import TetherService
import Tracing

/// `--otel-endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`): traces and metrics exported
/// over OTLP/HTTP with swift-otel. Off when neither is set: then no tracer is
/// bootstrapped and every span in the code is a no-op.
struct OpenTelemetryExport {
    /// What the service records into (metrics factory, request spans).
    var telemetry: Telemetry
    /// The exporters' background work; run beside the application, they flush on shutdown.
    var services: [any Service]

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// Bootstraps the process-wide tracer and returns the export, or nil when off.
    /// `OTEL_*` variables the OpenTelemetry SDK reads (service name, protocol, batch
    /// delay, export interval, headers) apply as the specification says.
    static func bootstrap(endpoint flag: String?, environment: [String: String], logger: Logger) throws(SetupError) -> OpenTelemetryExport? {
        guard let base = flag ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"] else { return nil }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host() != nil,
            url.query == nil, url.fragment == nil
        else {
            throw SetupError(description: "the OTLP endpoint must be an http(s) base URL such as http://collector:4318, not '\(base.prefix(200))'")
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = environment["OTEL_SERVICE_NAME"] ?? "tether"
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        for signal in [\OTel.Configuration.traces.otlpExporter, \OTel.Configuration.metrics.otlpExporter] {
            configuration[keyPath: signal].protocol = .httpProtobuf
        }
        if let flag {
            // A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: each signal's path appended.
            let trimmed = flag.hasSuffix("/") ? String(flag.dropLast()) : flag
            configuration.traces.otlpExporter.endpoint = trimmed + "/v1/traces"
            configuration.metrics.otlpExporter.endpoint = trimmed + "/v1/metrics"
        }
        do {
            let tracing = try OTel.makeTracingBackend(configuration: configuration)
            let metrics = try OTel.makeMetricsBackend(configuration: configuration)
            InstrumentationSystem.bootstrap(tracing.factory)
            return OpenTelemetryExport(
                telemetry: Telemetry(metricsFactory: metrics.factory, tracesRequests: true),
                services: [tracing.service, metrics.service])
        } catch {
            throw SetupError(description: "cannot set up the OpenTelemetry export: \(error)")
        }
    }
}
