"""Every Prometheus series xnai exports, defined once so all services label them alike."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Voice latencies are tens of milliseconds to tens of seconds.
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)

REQUESTS = Counter("xnai_requests", "Requests handled", ["service", "kind"])
ERRORS = Counter("xnai_errors", "Requests or frames answered with an error", ["service", "code"])
IN_FLIGHT = Gauge("xnai_in_flight", "Requests being worked on now", ["service"])
CONNECTIONS = Gauge("xnai_connections", "Open client connections", ["service"])
LATENCY = Histogram("xnai_latency_seconds", "Time per request stage", ["service", "stage"], buckets=SECONDS_BUCKETS)
QUEUE_DEPTH = Gauge("xnai_queue_depth", "Requests waiting for a model", ["service"])
MODEL_LOAD = Gauge("xnai_model_load_seconds", "Time the model took to load", ["service", "model"])
MODEL_READY = Gauge("xnai_model_ready", "1 when the service's model is loaded", ["service"])
FALLBACK_STAGE = Counter("xnai_answer_stage", "Which stage of handle's fallback chain answered", ["stage"])
TTS_PIECES = Counter("xnai_tts_pieces", "Pieces TTS spoke, by the voice that spoke them: piper or espeak", ["source"])
BREAKER_STATE = Gauge("xnai_breaker_open", "1 while a circuit breaker is open", ["breaker"])
