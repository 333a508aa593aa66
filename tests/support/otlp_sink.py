"""A real OTLP/HTTP trace receiver on loopback for Quire's tracing tests.

Usage: otlp_sink.py PORT FILE

It accepts POST /v1/traces in both encodings OTLP/HTTP defines (protobuf
and JSON), decodes the request with the OpenTelemetry project's own protocol
definitions (the opentelemetry-proto package), answers as the protocol says,
and appends one JSON line per span to FILE: name, kind, ids in hex, parent,
links, attributes and the resource's service.name. Prints "ready" once it
listens.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
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
        request = ExportTraceServiceRequest()
        try:
            if content_type.startswith("application/json"):
                json_format.Parse(body, request)
            elif content_type.startswith("application/x-protobuf"):
                request.ParseFromString(body)
            else:
                self.send_error(415, f"unsupported content type {content_type!r}")
                return
        except Exception as error:  # a malformed export is a test failure to see
            self.send_error(400, f"cannot decode the export: {error}")
            return
        with lock, open(sys.argv[2], "a", encoding="utf-8") as out:
            for span in spans(request):
                out.write(json.dumps(span) + "\n")
        answer = ExportTraceServiceResponse()
        if content_type.startswith("application/json"):
            payload, answer_type = json_format.MessageToJson(answer).encode(), "application/json"
        else:
            payload, answer_type = answer.SerializeToString(), "application/x-protobuf"
        self.send_response(200)
        self.send_header("Content-Type", answer_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
