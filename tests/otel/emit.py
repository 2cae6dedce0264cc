"""Emits LLM traces with the real OpenTelemetry Python SDK to HUMMBL's
/v1/traces, shaped like the OpenAI and Anthropic instrumentations, and prints
one JSON line per trace: {"name": ..., "trace_id": ...}.

usage: emit.py BASE_URL INGESTION_KEY protobuf|gzip|json

`protobuf` and `gzip` use the SDK's OTLP/HTTP exporter (the second with
gzip compression). The SDK has no OTLP/JSON exporter, so `json` encodes the
same spans with the SDK's own OTLP encoder and writes them in OTLP/JSON
(camelCase fields, enums as numbers, ids in hex, as the spec says).
"""

import base64
import json
import sys
import urllib.request

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode


class JsonExporter(SpanExporter):
    """OTLP/JSON over HTTP, from the SDK's protobuf encoding of the spans."""

    def __init__(self, endpoint, key):
        self.endpoint = endpoint
        self.key = key

    def export(self, spans):
        message = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        for resource_spans in message.get("resourceSpans", []):
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    for field in ("traceId", "spanId", "parentSpanId"):
                        if field in span:
                            span[field] = base64.b64decode(span[field]).hex()
        request = urllib.request.Request(
            self.endpoint,
            data=json.dumps(message).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 200:
                return SpanExportResult.FAILURE
            body = json.loads(answer.read() or b"{}")
            if body.get("partialSuccess", {}).get("rejectedSpans"):
                raise SystemExit(f"spans refused: {body}")
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


def main():
    base, key, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    endpoint = f"{base}/v1/traces"
    if mode == "json":
        exporter = JsonExporter(endpoint, key)
    else:
        exporter = OTLPSpanExporter(
            endpoint=endpoint,
            headers={"Authorization": f"Bearer {key}"},
            compression=Compression.Gzip if mode == "gzip" else Compression.NoCompression,
            timeout=10,
        )
    provider = TracerProvider(resource=Resource.create({"service.name": f"support-bot-{mode}"}))
    # One export per ended span: the split trace below arrives in several requests.
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hummbl-test-emitter")

    def trace_id(span):
        return format(span.get_span_context().trace_id, "032x")

    # OpenAI-style: input tokens include the 200 cached ones.
    with tracer.start_as_current_span("handle ticket", kind=SpanKind.SERVER) as root:
        with tracer.start_as_current_span("SELECT tickets"):
            pass
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as call:
            call.set_attribute("gen_ai.operation.name", "chat")
            call.set_attribute("gen_ai.system", "openai")
            call.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            call.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            call.set_attribute("gen_ai.usage.input_tokens", 1200)
            call.set_attribute("gen_ai.usage.output_tokens", 300)
            call.set_attribute("gen_ai.usage.cache_read.input_tokens", 200)
        print(json.dumps({"name": "openai", "trace_id": trace_id(root)}), flush=True)

    # Anthropic-style: 2,112 input tokens of which 2,000 read and 100 written to the cache.
    with tracer.start_as_current_span("summarize thread", kind=SpanKind.SERVER) as root:
        with tracer.start_as_current_span("chat claude-3-5-haiku", kind=SpanKind.CLIENT) as call:
            call.set_attribute("gen_ai.operation.name", "chat")
            call.set_attribute("gen_ai.provider.name", "anthropic")
            call.set_attribute("gen_ai.request.model", "claude-3-5-haiku-20241022")
            call.set_attribute("gen_ai.usage.input_tokens", 2112)
            call.set_attribute("gen_ai.usage.output_tokens", 40)
            call.set_attribute("gen_ai.usage.cache_read.input_tokens", 2000)
            call.set_attribute("gen_ai.usage.cache_creation.input_tokens", 100)
        print(json.dumps({"name": "anthropic", "trace_id": trace_id(root)}), flush=True)

    # A refused call: the provider answered 429.
    with tracer.start_as_current_span("classify", kind=SpanKind.SERVER) as root:
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as call:
            call.set_attribute("gen_ai.operation.name", "chat")
            call.set_attribute("gen_ai.system", "openai")
            call.set_attribute("gen_ai.request.model", "gpt-4o")
            call.set_attribute("error.type", "RateLimitError")
            call.record_exception(RuntimeError("rate limited"))
            call.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
        print(json.dumps({"name": "failed", "trace_id": trace_id(root)}), flush=True)

    # Two calls and the root, each in its own request: one execution.
    with tracer.start_as_current_span("agent loop", kind=SpanKind.SERVER) as root:
        for turn in (1, 2):
            with tracer.start_as_current_span(f"chat turn {turn}", kind=SpanKind.CLIENT) as call:
                call.set_attribute("gen_ai.operation.name", "chat")
                call.set_attribute("gen_ai.system", "openai")
                call.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                call.set_attribute("gen_ai.usage.input_tokens", 100 * turn)
                call.set_attribute("gen_ai.usage.output_tokens", 10 * turn)
        print(json.dumps({"name": "split", "trace_id": trace_id(root)}), flush=True)

    provider.shutdown()


if __name__ == "__main__":
    main()
