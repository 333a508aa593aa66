"""A real OTLP/HTTP trace receiver on loopback for Quire's tracing tests.

Usage: otlp_sink.py PORT FILE

It accepts POST /v1/traces in OTLP/HTTP's protobuf encoding (Quire's
default; OTLP/JSON's hex ids would need more than protobuf's JSON mapping),
decodes the request with the OpenTelemetry project's own protocol
definitions (the opentelemetry-proto package), answers as the protocol says,
and appends one JSON line per span to FILE — name, kind, ids in hex, parent,
links, attributes and the resource's service.name — in one write per
export. Prints "ready" once it listens.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

lock = threading.Lock()


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(pairs):
    return {pair.key: value(pair.value) for pair in pairs}


def spans(request):
    for resource_spans in request.resource_spans:
        service = attributes(resource_spans.resource.attributes).get("service.name")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "service": service,
                    "name": span.name,
                    "kind": Span.SpanKind.Name(span.kind),
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "links": [
                        {"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()}
                        for l in span.links
                    ],
                    "attributes": attributes(span.attributes),
                    "status": span.status.code,
                    "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
                }


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/v1/traces":
            self.send_error(404, "only /v1/traces is received here")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("application/x-protobuf"):
            self.send_error(415, f"only application/x-protobuf is received here, not {content_type!r}")
            return
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except Exception as error:  # a malformed export is a test failure to see
            self.send_error(400, f"cannot decode the export: {error}")
            return
        lines = "".join(json.dumps(span) + "\n" for span in spans(request))
        with lock, open(sys.argv[2], "a", encoding="utf-8") as out:
            out.write(lines)
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
