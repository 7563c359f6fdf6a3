"""`xnai asr`: the Wyoming speech-to-text service.

One utterance is transcribe? -> audio-start? -> audio-chunk* -> audio-stop -> exactly one transcript
(WYOMING_PROTOCOL.md 4.2). With endpointing (the default) the transcript goes out as soon as the
speaker's turn is over (turn.py), and the rest of that utterance's audio is dropped: Home Assistant
stops streaming at the first `transcript`. With `--prepare-uri`, an early decode that reads as a complete
sentence is also offered to handle (`xnai-prepare`), which prepares the answer while the turn ends.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

import anyio
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from wyoming_xnai.asr.audio import BYTES_PER_SECOND, BadAudio
from wyoming_xnai.asr.transcriber import FULL_WINDOW, Heard, NoLongerWanted, Transcriber, whisper_language
from wyoming_xnai.asr.turn import EarlyDecode, Utterance
from wyoming_xnai.client.connection import SERVICE_ERRORS
from wyoming_xnai.client.prepare import offer_preparation
from wyoming_xnai.errors import UserError
from wyoming_xnai.models import whisper_model
from wyoming_xnai.server.bootstrap import run
from wyoming_xnai.server.handler import ServiceHandler, event_data
from wyoming_xnai.server.metrics import LATENCY, REQUESTS
from wyoming_xnai.server.queue import Busy, Slot, WorkQueue
from wyoming_xnai.server.service import ModelUnavailable, Service, model_fields, program_fields
from wyoming_xnai.server.tracing import tracer
from wyoming_xnai.settings import AsrSettings

_LOGGER = logging.getLogger(__name__)
PREPARE_TIMEOUT = 1.0  # seconds to hand a question to handle for preparing (loopback or the LAN: milliseconds)
WHISPER = Attribution(name="OpenAI Whisper via faster-whisper", url="https://github.com/SYSTRAN/faster-whisper")


def decode_deadline(timeout: float, pcm_bytes: int) -> float:
    """Seconds a decode of `pcm_bytes` of audio may take: `--timeout` per Whisper window (30 s of audio)."""
    return timeout * max(1.0, pcm_bytes / BYTES_PER_SECOND / FULL_WINDOW)


class AsrService(Service):
    name = "asr"

    def __init__(self, settings: AsrSettings, uri: str) -> None:
        super().__init__(settings, uri)
        self.transcriber = Transcriber(whisper_model(settings.asr_model, settings.models_dir), settings)
        self.language = self._configured_language()
        self.queue = WorkQueue(self.name, settings.asr_max_concurrent, settings.asr_max_queue)
        self._info = self._build_info()

    @property
    def model_name(self) -> str:
        return self.transcriber.ref.name

    def _build_info(self) -> Info:
        name = self.transcriber.ref.name
        model = AsrModel(**model_fields(name, f"Whisper {name}", WHISPER, self.transcriber.languages))
        program = AsrProgram(
            **program_fields("xnai-asr", "xnai speech-to-text (faster-whisper)"),
            models=[model],
            supports_transcript_streaming=True,
            requires_external_vad=self.settings.asr_vad_endpointing <= 0,
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
        self._new_utterance()

    def _new_utterance(self) -> None:
        self.utterance = Utterance(self.svc.settings, self.sensitivity)

    def working(self) -> bool:
        """An early decode may still end the turn by itself: the client is silent by right meanwhile."""
        early = self.utterance.early
        return not self.utterance.answered and early is not None and not early.done.is_set()

    async def handle(self, event: Event) -> bool:
        if Transcribe.is_type(event.type):
            return await self._on_transcribe(event)
        if AudioStart.is_type(event.type):
            self._new_utterance()
            return True
        if AudioChunk.is_type(event.type):
            return await self._on_chunk(event)
        if AudioStop.is_type(event.type):
            if not self.utterance.answered:
                await self._answer(self.utterance, "audio-stop")
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
        if not self.utterance.audio:
            self._new_utterance()  # picks up the sensitivity
        return True

    async def _on_chunk(self, event: Event) -> bool:
        utterance = self.utterance
        if utterance.answered:
            return True  # speech already ended (endpointing); the client is still streaming
        self.open_stream("the utterance's audio", self.svc.settings.asr_stream_timeout)
        try:
            pcm = utterance.converter.convert_event(event, utterance.room())
        except BadAudio as err:
            await self.send_error("bad-audio", str(err))
            return False
        reason = utterance.add(pcm)
        utterance.drop_stale_early()
        if reason == "max-seconds":
            _LOGGER.warning(
                "utterance reached --max-seconds (%.0f s): transcribing it now", self.svc.settings.asr_max_seconds
            )
        if reason is not None:
            await self._answer(utterance, reason)
        elif utterance.early_due() and self._model_free_for(utterance):
            self.tasks.start_soon(self._decode_early, utterance, utterance.start_early())
        return True

    def _model_free_for(self, utterance: Utterance) -> bool:
        """An early decode is optional work: it takes the model only when no other request needs it,
        that is when it is free, or held by this utterance's own outdated early decode (which stops
        at its next step) with nobody else waiting."""
        queue, previous = self.svc.queue, utterance.early
        return queue.idle or (previous is not None and previous.running and queue.waiting == 0)

    async def _decode_early(self, utterance: Utterance, early: EarlyDecode) -> None:
        """Transcribe the speech so far in a pause; end the turn if its words are complete and the
        pause has grown long enough meanwhile. A failure is left to the final decode to report."""
        REQUESTS.labels("asr", "early-decode").inc()

        async def running() -> None:
            early.running = True

        try:
            with early.scope:
                early.heard = await self._transcribe(
                    early.pcm, "early", running, wanted=functools.partial(utterance.wants, early)
                )
        except NoLongerWanted:
            _LOGGER.debug("early decode stopped: the speaker went on")
        except (ModelUnavailable, Busy, TimeoutError):
            _LOGGER.debug("early decode failed: the turn's end decodes again")
        except Exception as err:  # the model broke: the final decode meets it too and tells the client
            _LOGGER.warning("early decode failed (%s: %s): the turn's end decodes again", type(err).__name__, err)
        finally:
            early.done.set()
        if early.heard is not None:
            _LOGGER.debug("early decode of %.1f s: %r (%s)", len(early.pcm) / BYTES_PER_SECOND, early.heard.text,
                          "current" if utterance.wants(early) else "outdated")  # fmt: skip
            if self.svc.settings.asr_prepare_uri and utterance is self.utterance and utterance.reads_complete():
                self.tasks.start_soon(self._offer_preparation, self.svc.settings.asr_prepare_uri, early.heard)
        if utterance is self.utterance and not utterance.answered and utterance.finished():
            try:
                await self._answer(utterance, "complete")
            except ConnectionError:
                _LOGGER.debug("asr: client went away before its transcript")

    async def _offer_preparation(self, uri: str, heard: Heard) -> None:
        """Tell handle the question that is most likely coming, so that it prepares the answer while the turn
        ends. Shielded for its short deadline: Home Assistant may close this connection at the transcript,
        before the offer is out. A failure only costs the head start."""
        with anyio.move_on_after(PREPARE_TIMEOUT, shield=True) as deadline:
            try:
                await offer_preparation(uri, heard.text, heard.language or self.language, PREPARE_TIMEOUT)
            except SERVICE_ERRORS as err:
                _LOGGER.debug("could not offer the question to %s for preparing: %s", uri, err or type(err).__name__)
                return
        if deadline.cancelled_caught:
            _LOGGER.debug("could not offer the question to %s for preparing within %g s", uri, PREPARE_TIMEOUT)
        else:
            REQUESTS.labels("asr", "prepare-offered").inc()

    async def _transcribe(self, pcm: bytes, reason: str, on_start: Callable[[], Awaitable[None]] | None = None,
                          on_segment: Callable[[str], Awaitable[None]] | None = None,
                          wanted: Callable[[], bool] = lambda: True) -> Heard:  # fmt: skip
        """One decode in the service's queue, within `--timeout` per Whisper window of audio (queue wait
        included): a 2-minute dictation is four windows' work, not a stuck model."""
        await self.svc.wait_ready()
        with anyio.fail_after(decode_deadline(self.svc.settings.asr_timeout, len(pcm))):  # a stuck call keeps its slot
            async with self.svc.queue.slot() as slot:
                if on_start is not None:
                    await on_start()
                started = time.perf_counter()
                with tracer.start_as_current_span("asr.transcribe") as span:
                    span.set_attribute("asr.model", self.svc.model_name)
                    span.set_attribute("asr.audio_seconds", len(pcm) / BYTES_PER_SECOND)
                    span.set_attribute("asr.end_reason", reason)
                    chunk = functools.partial(self._chunk, slot, on_segment) if on_segment else _ignore
                    heard = await slot.run_sync(self.svc.transcriber.transcribe, pcm, self.language, chunk, wanted)
                    span.set_attribute("asr.text_chars", len(heard.text))
                LATENCY.labels("asr", "transcribe").observe(time.perf_counter() - started)
        return heard

    async def _answer(self, utterance: Utterance, reason: str) -> None:
        """Send exactly one transcript for the utterance, with the streaming events around it: the
        early decode's when nobody spoke after it started, else a decode of the whole utterance."""
        utterance.answered = True
        self.close_stream()
        started = time.perf_counter()
        REQUESTS.labels("asr", reason).inc()
        if not utterance.vad.speech_started:  # the VAD heard no speech: don't let Whisper make up words from noise
            await self._send_transcript(Heard("", self.language))
            return
        early = utterance.current_early()
        if early is not None:
            await early.done.wait()  # bounded by the early decode's own --timeout
            if early.heard is not None:
                REQUESTS.labels("asr", "early-decode-used").inc()
                _LOGGER.debug("transcript (%s, the early decode): %s", reason, early.heard.text)
                await self._send_transcript(early.heard, chunk=True)
                LATENCY.labels("asr", "end_to_transcript").observe(time.perf_counter() - started)
                return
        pcm, utterance.audio = bytes(utterance.audio), bytearray()
        running = False

        async def begin() -> None:
            nonlocal running
            running = True
            await self.write_event(TranscriptStart(language=self.language).event())

        try:
            heard = await self._transcribe(pcm, reason, begin, self._send_chunk)
        except ModelUnavailable as err:
            await self.send_error("model-unavailable", str(err))
            return
        except Busy as err:
            await self.send_error("busy", str(err))
            return
        except TimeoutError:
            what = "transcription took" if running else "waiting for a free transcription slot took"
            timeout = self.svc.settings.asr_timeout
            await self.send_error("timeout", f"{what} longer than {timeout:g} s (--timeout): try again later")
            return
        await self._send_transcript(heard, streaming_started=True)
        LATENCY.labels("asr", "end_to_transcript").observe(time.perf_counter() - started)
        _LOGGER.debug("transcript (%s, %.1f s audio): %s %s", reason, len(pcm) / BYTES_PER_SECOND, heard.text,
                      heard.context())  # fmt: skip

    def _chunk(self, slot: Slot, send: Callable[[str], Awaitable[None]], text: str) -> None:
        """Called from the worker thread for every decoded segment."""
        anyio.from_thread.run(self._forward, slot, send, text)

    @staticmethod
    async def _forward(slot: Slot, send: Callable[[str], Awaitable[None]], text: str) -> None:
        if not slot.abandoned:  # a call that timed out must not talk to the client after its error
            await send(text)

    async def _send_chunk(self, text: str) -> None:
        await self.write_event(TranscriptChunk(text=text).event())

    async def _send_transcript(self, heard: Heard, streaming_started: bool = False, chunk: bool = False) -> None:
        if not streaming_started:
            await self.write_event(TranscriptStart(language=self.language).event())
        if chunk and heard.text:
            await self.write_event(TranscriptChunk(text=heard.text).event())
        # `transcript` is what Home Assistant reads; it closes the socket right after it. The context
        # carries Whisper's confidence, for clients that ask again on a garbled question.
        transcript = Transcript(text=heard.text, language=heard.language or self.language, context=heard.context())
        await self.write_event(transcript.event())
        try:
            await self.write_event(TranscriptStop().event())
        except ConnectionError:
            pass


def _ignore(text: str) -> None:
    """An early decode streams nothing: its words may still change."""


def main(settings: AsrSettings, args: argparse.Namespace) -> int:
    return run([AsrService(settings, settings.asr_uri)], settings)
