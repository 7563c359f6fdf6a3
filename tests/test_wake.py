"""`xnai wake` over real Wyoming on loopback, driven the way Home Assistant drives a wake-word service
(detect {names} -> audio-start -> timestamped 16 kHz chunks, no audio-stop), with espeak-ng speech."""

from __future__ import annotations

import anyio
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.info import Describe, Info
from wyoming.wake import Detect

from tests.support import LOOPBACK, ServerProcess, free_port, silence, speech
from tests.test_zeroconf import browse

pytestmark = pytest.mark.anyio
OTHER_SPEECH = "the weather is nice today and the garden needs water"


@pytest.fixture(scope="module")
def wake(module_servers) -> ServerProcess:
    name = f"xnai-wake-{free_port()}"
    server = module_servers("wake", "--zeroconf", name, "--zeroconf-host", LOOPBACK)
    server.zeroconf_name = name  # type: ignore[attr-defined]
    return server


async def stream(uri: str, pcm: bytes, names: list[str] | None, stop: bool = False) -> list:
    """Send audio in real-time-sized chunks as Home Assistant does; collect what comes back."""
    events = []
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Detect(names=names).event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1, timestamp=0).event())
        for i in range(0, len(pcm), 2048):
            chunk = AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i : i + 2048], timestamp=i // 32)
            await client.write_event(chunk.event())
        if stop:
            await client.write_event(AudioStop().event())
        await client.write_event(Describe().event())  # a marker: everything before it has been processed
        with anyio.fail_after(60):
            while (event := await client.read_event()) is not None and not Info.is_type(event.type):
                events.append(event)
    return events


async def test_describe_lists_the_models_and_zeroconf_advertises_it(wake: ServerProcess) -> None:
    async with AsyncClient.from_uri(wake.uri) as client:
        await client.write_event(Describe().event())
        with anyio.fail_after(10):
            info = Info.from_event(await client.read_event())
    program = info.wake[0]
    assert program.installed and {m.name for m in program.models} == {"okay_nabu", "hey_jarvis", "alexa", "hey_mycroft"}
    assert {m.phrase for m in program.models} >= {"Okay Nabu", "Alexa"}
    assert all(m.languages for m in program.models)
    advertised = await browse(wake.zeroconf_name)  # type: ignore[attr-defined]
    assert advertised.port == wake.port


async def test_the_wake_word_in_other_speech_is_detected_once(wake: ServerProcess) -> None:
    wake_word = speech("okay nabu, what time is it")
    pcm = silence(0.5) + speech(OTHER_SPEECH) + silence(1.0) + wake_word + silence(0.5) + speech(OTHER_SPEECH)
    events = await stream(wake.uri, pcm, ["okay_nabu"])
    detections = [e for e in events if e.type == "detection"]
    assert len(detections) == 1, events
    assert detections[0].data["name"] == "okay_nabu"
    start = len(silence(0.5) + speech(OTHER_SPEECH) + silence(1.0)) // 32  # ms, as the chunk timestamps
    assert start < detections[0].data["timestamp"] < start + len(wake_word) // 32


async def test_speech_without_the_wake_word_is_not_detected(wake: ServerProcess) -> None:
    events = await stream(wake.uri, silence(0.3) + speech(OTHER_SPEECH), None, stop=True)
    assert [e.type for e in events] == ["not-detected"]


async def test_only_the_requested_wake_word_counts(wake: ServerProcess) -> None:
    events = await stream(wake.uri, silence(0.3) + speech("alexa, what time is it"), ["okay_nabu"], stop=True)
    assert [e.type for e in events] == ["not-detected"]
    events = await stream(wake.uri, silence(0.3) + speech("alexa, what time is it"), ["alexa", "okay_nabu"])
    assert [(e.type, e.data["name"]) for e in events] == [("detection", "alexa")]


async def test_an_unknown_wake_word_is_a_clear_error(wake: ServerProcess) -> None:
    async with AsyncClient.from_uri(wake.uri) as client:
        await client.write_event(Detect(names=["hey_toaster"]).event())
        with anyio.fail_after(10):
            event = await client.read_event()
    assert event.type == "error" and "hey_toaster" in event.data["text"]
