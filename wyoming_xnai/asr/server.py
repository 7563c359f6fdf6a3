"""`xnai asr`: the Wyoming speech-to-text service.

One utterance is transcribe? -> audio-start? -> audio-chunk* -> audio-stop -> exactly one transcript
(WYOMING_PROTOCOL.md 4.2). With `--vad-endpointing` the transcript goes out as soon as the speaker
stops, and the rest of that utterance's audio is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import time

import anyio
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from wyoming_xnai.asr.audio import BYTES_PER_SECOND, BadAudio, ToWhisperFormat
from wyoming_xnai.asr.endpoint import Endpointer
from wyoming_xnai.asr.transcriber import Heard, Transcriber, whisper_language
from wyoming_xnai.errors import UserError
from wyoming_xnai.models import whisper_model
from wyoming_xnai.server.bootstrap import run
from wyoming_xnai.server.handler import ServiceHandler, event_data
from wyoming_xnai.server.metrics import LATENCY, REQUESTS
from wyoming_xnai.server.queue import Busy, Slot, WorkQueue
from wyoming_xnai.server.service import ModelUnavailable, Service, program_fields
from wyoming_xnai.server.tracing import tracer
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)
WHISPER = Attribution(name="OpenAI Whisper via faster-whisper", url="https://github.com/SYSTRAN/faster-whisper")


class AsrService(Service):
    name = "asr"

    def __init__(self, settings: Settings, uri: str) -> None:
        super().__init__(settings, uri)
        self.transcriber = Transcriber(whisper_model(settings.asr_model, settings.models_dir), settings)
        self.language = self._configured_language()
        self.queue = WorkQueue(self.name, settings.asr_max_concurrent, settings.asr_max_queue)
        self._info = self._build_info()

    @property
    def model_name(self) -> str:
        return self.transcriber.ref.name

    def _build_info(self) -> Info:
        model = AsrModel(
            name=self.transcriber.ref.name,
            description=f"Whisper {self.transcriber.ref.name}",
            attribution=WHISPER,
            installed=True,
            version=None,
            languages=self.transcriber.languages,
        )
        program = AsrProgram(
            **program_fields("xnai-asr", "xnai speech-to-text (faster-whisper)"),
            models=[model],
            supports_transcript_streaming=True,
            requires_external_vad=self.settings.asr_vad_endpointing is None,
        )
        return Info(asr=[program])

    def info(self) -> Info:
        return self._info

    def load(self) -> None:
        self.transcriber.load()

    def _configured_language(self) -> str | None:
        """`--language`, checked against the model; None means detect (or English, for an English-only model)."""
        configured = self.settings.asr_language
        if not configured or configured.lower() == "auto":
            return "en" if self.transcriber.languages == ["en"] else None
        code = self.supported(configured)
        if code is None:
            raise UserError(
                f"--language '{configured}' is not one model {self.model_name} can transcribe "
                f"({', '.join(self.transcriber.languages[:12])}{'...' if len(self.transcriber.languages) > 12 else ''}"
                f"{', or auto' if len(self.transcriber.languages) > 1 else ''})"
            )
        return code

    def supported(self, language: str) -> str | None:
        """The model's code for a language tag ("de-DE" -> "de"), or None if it cannot transcribe it."""
        code = whisper_language(language)
        return code if code in self.transcriber.languages else None

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> AsrHandler:
        return AsrHandler(reader, writer, self)


class AsrHandler(ServiceHandler[AsrService]):
    request_events = frozenset({"transcribe", "audio-start", "audio-chunk", "audio-stop"})

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, svc: AsrService) -> None:
        super().__init__(reader, writer, svc)
        self.language = svc.language
        self.sensitivity = "default"
        self._max_bytes = int(svc.settings.asr_max_seconds * BYTES_PER_SECOND)
        self._new_utterance()

    def _new_utterance(self) -> None:
        self.audio = bytearray()
        self.converter = ToWhisperFormat()
        self.answered = False  # the transcript for this utterance was sent (endpoint or cap)
        settings = self.svc.settings
        self.endpointer = (
            Endpointer(settings.asr_vad_endpointing, settings.asr_vad_no_speech_seconds, self.sensitivity)
            if settings.asr_vad_endpointing is not None
            else None
        )
        # Without endpointing the VAD still listens, only to tell speech from silence and noise: Whisper
        # "hears" words ("you", "Thank you.") in audio without any. Its end of speech is not used.
        never = settings.asr_max_seconds + 1.0
        self.speech = self.endpointer or Endpointer(never, never, self.sensitivity)

    async def handle(self, event: Event) -> bool:
        if Transcribe.is_type(event.type):
            return await self._on_transcribe(event)
        if AudioStart.is_type(event.type):
            self._new_utterance()
            return True
        if AudioChunk.is_type(event.type):
            return await self._on_chunk(event)
        if AudioStop.is_type(event.type):
            if not self.answered:
                await self._answer("audio-stop")
            self._new_utterance()
            return True
        return True  # unknown events are dropped, as the protocol expects

    async def _on_transcribe(self, event: Event) -> bool:
        language = event_data(event, "language", str)
        if not language:
            self.language = self.svc.language
        elif language.lower() == "auto":
            self.language = "en" if self.svc.transcriber.languages == ["en"] else None
        elif language:
            code = self.svc.supported(language)
            if code is None:
                await self.send_error(
                    "unsupported-language",
                    f"language '{language}' is not supported by model {self.svc.model_name} "
                    f"(supported: {', '.join(self.svc.transcriber.languages[:10])})",
                )
                return True
            self.language = code
        self.sensitivity = event_data(event, "vad_sensitivity", str, "default")
        if not self.audio:
            self._new_utterance()  # picks up the sensitivity
        return True

    async def _on_chunk(self, event: Event) -> bool:
        if self.answered:
            return True  # speech already ended (endpointing); the client is still streaming
        self.open_stream("the utterance's audio", self.svc.settings.asr_stream_timeout)
        room = self._max_bytes - len(self.audio)
        try:
            pcm = self.converter.convert_event(event, room)
        except BadAudio as err:
            await self.send_error("bad-audio", str(err))
            return False
        self.audio += pcm[:room]
        if len(self.audio) >= self._max_bytes:
            _LOGGER.warning(
                "utterance reached --max-seconds (%.0f s): transcribing it now", self.svc.settings.asr_max_seconds
            )
            await self._answer("max-seconds")
        elif self._speech_ended(pcm):
            await self._answer("endpoint")
        return True

    def _speech_ended(self, pcm: bytes) -> bool:
        """Feeds the VAD; True when endpointing is on and the speaker has stopped."""
        if self.endpointer is not None:
            return self.endpointer.feed(pcm)
        if not self.speech.speech_started:  # once speech was heard, the VAD has nothing left to tell
            self.speech.feed(pcm)
        return False

    async def _answer(self, reason: str) -> None:
        """Send exactly one transcript for the utterance, with the streaming events around it."""
        self.answered = True
        self.close_stream()
        started = time.perf_counter()
        if not self.speech.speech_started:
            pcm = b""  # the VAD heard no speech at all: don't let Whisper make up words from noise
        else:
            pcm = bytes(self.audio)
        self.audio = bytearray()
        REQUESTS.labels("asr", reason).inc()
        if not pcm:
            await self._send_transcript(Heard("", self.language))
            return
        timeout = self.svc.settings.asr_timeout
        running = False
        try:
            await self.svc.wait_ready()
            with anyio.fail_after(timeout):  # a stuck model call keeps its slot, not this client
                async with self.svc.queue.slot() as slot:
                    running = True
                    await self.write_event(TranscriptStart(language=self.language).event())
                    model_started = time.perf_counter()
                    with tracer.start_as_current_span("asr.transcribe") as span:
                        span.set_attribute("asr.model", self.svc.model_name)
                        span.set_attribute("asr.audio_seconds", len(pcm) / BYTES_PER_SECOND)
                        span.set_attribute("asr.end_reason", reason)
                        heard = await slot.run_sync(
                            self.svc.transcriber.transcribe, pcm, self.language, functools.partial(self._chunk, slot)
                        )
                        span.set_attribute("asr.text_chars", len(heard.text))
                    LATENCY.labels("asr", "transcribe").observe(time.perf_counter() - model_started)
        except ModelUnavailable as err:
            await self.send_error("model-unavailable", str(err))
            return
        except Busy as err:
            await self.send_error("busy", str(err))
            return
        except TimeoutError:
            what = "transcription took" if running else "waiting for a free transcription slot took"
            await self.send_error("timeout", f"{what} longer than {timeout:g} s (--timeout): try again later")
            return
        await self._send_transcript(heard, streaming_started=True)
        LATENCY.labels("asr", "end_to_transcript").observe(time.perf_counter() - started)
        _LOGGER.debug("transcript (%s, %.1f s audio): %s %s", reason, len(pcm) / BYTES_PER_SECOND, heard.text,
                      heard.context())  # fmt: skip

    def _chunk(self, slot: Slot, text: str) -> None:
        """Called from the worker thread for every decoded segment."""
        anyio.from_thread.run(self._send_chunk, slot, text)

    async def _send_chunk(self, slot: Slot, text: str) -> None:
        if not slot.abandoned:  # a call that timed out must not talk to the client after its error
            await self.write_event(TranscriptChunk(text=text).event())

    async def _send_transcript(self, heard: Heard, streaming_started: bool = False) -> None:
        if not streaming_started:
            await self.write_event(TranscriptStart(language=self.language).event())
        # `transcript` is what Home Assistant reads; it closes the socket right after it. The context
        # carries Whisper's confidence, for clients that ask again on a garbled question.
        transcript = Transcript(text=heard.text, language=heard.language or self.language, context=heard.context())
        await self.write_event(transcript.event())
        try:
            await self.write_event(TranscriptStop().event())
        except ConnectionError:
            pass


def main(settings: Settings, args: argparse.Namespace) -> int:
    return run([AsrService(settings, settings.asr_uri)], settings)
