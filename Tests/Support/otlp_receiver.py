#!/usr/bin/env python3
"""An OTLP/HTTP receiver for Tether's tests: decodes what an exporter POSTs with the
OpenTelemetry protobuf definitions (PyPI `opentelemetry-proto`).

    python3 otlp_receiver.py [--quiet]

Listens on a free loopback port and prints `listening <port>`, then one JSON line per
span received on /v1/traces:
  {"span": name, "trace_id", "span_id", "parent_span_id" (hex, "" for a root),
   "kind", "status", "service", "attributes": {key: value}}
and one per metric received on /v1/metrics: {"metric": name, "service"}.
Answers 200 with an empty export response; 400 to a body it cannot decode, 404 to any
other path. Stops on SIGTERM.

--quiet decodes every body but prints nothing past the port: a benchmark's receiver,
whose cost on shared cores should be the decoding a collector does, not a JSON line
per span.
"""
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

lock = threading.Lock()
quiet = "--quiet" in sys.argv[1:]


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def service_of(resource):
    for attribute in resource.attributes:
        if attribute.key == "service.name":
            return value_of(attribute.value)
    return None


def emit(record):
    if quiet:
        return
    with lock:
        print(json.dumps(record), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            if self.path == "/v1/traces":
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                for resource_spans in () if quiet else request.resource_spans:
                    service = service_of(resource_spans.resource)
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            emit({
                                "span": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(), "kind": span.kind,
                                "status": span.status.code, "service": service,
                                "attributes": {a.key: value_of(a.value) for a in span.attributes},
                            })
                reply = trace_service_pb2.ExportTraceServiceResponse()
            elif self.path == "/v1/metrics":
                request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                for resource_metrics in () if quiet else request.resource_metrics:
                    service = service_of(resource_metrics.resource)
                    for scope_metrics in resource_metrics.scope_metrics:
                        for metric in scope_metrics.metrics:
                            emit({"metric": metric.name, "service": service})
                reply = metrics_service_pb2.ExportMetricsServiceResponse()
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        except Exception as error:  # a body the definitions cannot decode
            emit({"error": str(error), "path": self.path})
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = reply.SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
