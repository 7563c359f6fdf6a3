"""OpenTelemetry traces: one span per stage (ASR, retrieval, LLM, TTS).

Spans are always recorded in-process (cheap), but leave the machine only when the user sets
`--otlp-endpoint`: private by default.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from wyoming_xnai import __version__

_LOGGER = logging.getLogger(__name__)
tracer = trace.get_tracer("wyoming_xnai", __version__)


def setup_tracing(otlp_endpoint: str | None, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install a tracer provider that exports to `otlp_endpoint` (OTLP/HTTP) or to `exporter`."""
    if not otlp_endpoint and exporter is None:
        return None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint)
        _LOGGER.info("tracing: exporting spans to %s", endpoint)
    provider = TracerProvider(resource=Resource.create({"service.name": "xnai", "service.version": __version__}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    return provider
