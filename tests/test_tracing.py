"""Traces reach a configured OTLP collector (and only then)."""

from __future__ import annotations

import pytest

from bench.support import Collector
from tests.support import speech, transcribe, transcript_text

pytestmark = pytest.mark.anyio


async def test_asr_span_reaches_the_collector(start_server) -> None:
    with Collector() as collector:
        server = start_server("asr", "--otlp-endpoint", collector.endpoint)
        assert transcript_text(await transcribe(server.uri, speech("turn on the kitchen lights")))
        assert server.stop() == 0  # shutdown flushes the batch
        spans = collector.named("asr.transcribe")
    assert len(spans) == 1
    attrs = spans[0]["attributes"]
    assert attrs["asr.model"] == "tiny.en"
    assert attrs["asr.audio_seconds"] > 0.5
    assert attrs["asr.text_chars"] > 0
