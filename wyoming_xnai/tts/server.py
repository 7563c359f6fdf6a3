"""`xnai tts`: the Wyoming text-to-speech service (Piper).

Non-streaming `synthesize` is answered with ONE audio-start ... audio-stop block, because Home
Assistant stops reading at the first audio-stop (WYOMING_PROTOCOL.md 4.3). Streaming
(`synthesize-start`, `synthesize-chunk`*, `synthesize-stop`) is answered with one block too, then
`synthesize-stopped`; the back-compat `synthesize` inside a stream is ignored (4.4).

Audio starts after the first piece (text.py), not the first sentence. Pieces are synthesized one
at a time in a worker thread and written before the next is started, so a long answer streams with
bounded memory, and a client that leaves stops the work after the piece in progress.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import suppress

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from wyoming_xnai.errors import UserError
from wyoming_xnai.server.bootstrap import run
from wyoming_xnai.server.handler import ClientError, ServiceHandler, event_data
from wyoming_xnai.server.logs import private
from wyoming_xnai.server.metrics import LATENCY, REQUESTS
from wyoming_xnai.server.queue import Busy, WorkQueue
from wyoming_xnai.server.service import ModelUnavailable, Service, model_fields, program_fields
from wyoming_xnai.server.tracing import tracer
from wyoming_xnai.settings import TtsSettings
from wyoming_xnai.text.cleaning import clean_for_speech, has_sayable_text
from wyoming_xnai.tts.synth import (
    CHANNELS,
    WIDTH,
    Audio,
    SynthesisFailed,
    UnknownLanguage,
    UnknownSpeaker,
    UnknownVoice,
    VoiceBank,
    VoiceInfo,
    silence,
)
from wyoming_xnai.tts.text import Piece, Splitter, foreign_script

_LOGGER = logging.getLogger(__name__)
PIPER = Attribution(name="Piper (Open Home Foundation)", url="https://github.com/OHF-Voice/piper1-gpl")
SAMPLES_PER_CHUNK = 1024


class TtsService(Service):
    name = "tts"

    def __init__(self, settings: TtsSettings, uri: str) -> None:
        super().__init__(settings, uri)
        self.bank = VoiceBank(settings)  # reads voice configs only; ModelMissingError if the voice is absent
        try:
            self.bank.voices[self.bank.default].speaker_id(settings.tts_speaker)
        except UnknownVoice as err:
            raise UserError(str(err)) from None
        self.queue = WorkQueue(self.name, settings.tts_max_concurrent, settings.tts_max_queue)
        self._info = self._build_info()

    @property
    def model_name(self) -> str:
        return self.bank.default

    def _build_info(self) -> Info:
        voices = [
            TtsVoice(
                **model_fields(v.name, v.description, PIPER, v.languages),
                speakers=[TtsVoiceSpeaker(name=s) for s in v.speakers] or None,
            )
            for v in self.bank.voices.values()
        ]
        program = TtsProgram(
            **program_fields("xnai-tts", "xnai text-to-speech (Piper, low latency)"),
            voices=voices,
            supports_synthesize_streaming=True,
        )
        return Info(tts=[program])

    def info(self) -> Info:
        return self._info

    def load(self) -> None:
        entry = self.bank.load(self.bank.default)
        if entry.voice is None and self.bank.espeak is None:
            raise RuntimeError(f"{entry.error}; and espeak-ng (the degraded voice) is not installed")
        if entry.voice is not None:
            self.bank.synthesize(self.bank.voices[self.bank.default], "Ready.", None)  # warm up ONNX

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> TtsHandler:
        return TtsHandler(reader, writer, self)


class _Stream:
    """State of one streaming request (synthesize-start ... synthesize-stop)."""

    def __init__(self, voice: VoiceInfo | None, speaker_id: int | None, ssml: bool) -> None:
        self.voice = voice  # None after an error: the rest of the stream is ignored
        self.speaker_id = speaker_id
        self.ssml = ssml
        self.splitter = Splitter()
        self.chars = 0
        self.pending = ""  # an unfinished "<tag" held back until its ">" arrives
        self.send: MemoryObjectSendStream[Piece] | None = None
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()


class TtsHandler(ServiceHandler[TtsService]):
    request_events = frozenset({"synthesize", "synthesize-start", "synthesize-chunk", "synthesize-stop"})

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, svc: TtsService) -> None:
        super().__init__(reader, writer, svc)
        self._stream: _Stream | None = None  # streams synthesize in self.tasks while events still arrive
        self._speaking = False  # a piece is being synthesized or sent

    def working(self) -> bool:
        # audio is on the way; an open stream that waits for its text is not (the client owes us text)
        return self._speaking

    def shutdown(self, grace: float) -> None:
        """SIGTERM: a stream says what it has; `_speak` stops after the piece in progress."""
        super().shutdown(grace)
        if self._stream is not None and self._stream.send is not None:
            self._stream.send.close()

    async def handle(self, event: Event) -> bool:
        if Synthesize.is_type(event.type):
            if self._stream is not None:
                return True  # the back-compat copy of a streamed text: already being spoken
            await self._on_synthesize(event)
            return True
        if SynthesizeStart.is_type(event.type):
            await self._on_start(event)
            return True
        if SynthesizeChunk.is_type(event.type):
            await self._on_chunk(event)
            return True
        if SynthesizeStop.is_type(event.type):
            await self._on_stop()
            return True
        return True  # unknown events are dropped, as the protocol expects

    # --- request parameters ------------------------------------------------------------------

    def _voice(self, event: Event) -> tuple[VoiceInfo, int | None]:
        """The voice and speaker a request asks for (the defaults if it names none)."""
        voice_data = event_data(event, "voice", dict, {})
        name = voice_data.get("name") if isinstance(voice_data.get("name"), str) else None
        speaker = voice_data.get("speaker")
        speaker = str(speaker) if isinstance(speaker, (str, int)) and not isinstance(speaker, bool) else None
        language = voice_data.get("language") if isinstance(voice_data.get("language"), str) else None
        voice = self.svc.bank.voice(name) if name or not language else self.svc.bank.for_language(language)
        if speaker is None and voice.name == self.svc.bank.default:
            speaker = self.settings.tts_speaker
        return voice, voice.speaker_id(speaker)

    @staticmethod
    def _ssml(event: Event) -> bool:
        return event_data(event, "text_format", str, "") == "ssml"

    # --- non-streaming -----------------------------------------------------------------------

    async def _on_synthesize(self, event: Event) -> None:
        REQUESTS.labels("tts", "synthesize").inc()
        try:
            voice, speaker_id = self._voice(event)
            raw = event_data(event, "text", str, "")
            if len(raw) > self.settings.tts_max_text_chars:
                raise ClientError(
                    "text-too-long",
                    f"text of {len(raw)} characters is over the limit of {self.settings.tts_max_text_chars}",
                )
            text = clean_for_speech(raw, ssml=self._ssml(event))
            if not has_sayable_text(text):
                raise ClientError("empty-text", "nothing to say: the text is empty or has no letters or digits")
            _check_script(text, voice)
            splitter = Splitter()
            pieces = splitter.add(text) + splitter.finish()
            await self._speak(_iterate(pieces), voice, speaker_id, "synthesize")
        except ClientError as err:
            await self.send_error(err.code, err.text)
        except UnknownVoice as err:
            await self.send_error(_voice_error_code(err), str(err))

    # --- streaming ---------------------------------------------------------------------------

    async def _on_start(self, event: Event) -> None:
        REQUESTS.labels("tts", "stream").inc()
        if self._stream is not None:
            await self._finish_stream()  # a new stream without stop: finish the old one first
        try:
            voice, speaker_id = self._voice(event)
        except UnknownVoice as err:
            self._stream = _Stream(None, None, False)
            await self.send_error(_voice_error_code(err), str(err))
            return
        stream = _Stream(voice, speaker_id, self._ssml(event))
        self.open_stream("the streamed text", self.settings.tts_stream_timeout)
        send, receive = anyio.create_memory_object_stream[Piece](math.inf)  # bounded by tts_max_text_chars
        stream.send = send
        self._stream = stream
        self.tasks.start_soon(self._run_stream, stream, voice, receive)

    async def _run_stream(self, stream: _Stream, voice: VoiceInfo, receive: MemoryObjectReceiveStream[Piece]) -> None:
        try:
            with stream.scope:
                async with receive:
                    await self._speak(_receive(receive), voice, stream.speaker_id, "stream")
        except ClientError as err:
            await self.send_error(err.code, err.text)
        except (ConnectionError, RuntimeError):
            _LOGGER.debug("tts: client went away mid-stream")
        except Exception as err:  # a bug must end this stream, not the connection's task group silently
            _LOGGER.exception("tts: unexpected error in a stream")
            await self.send_error("internal-error", f"internal error: {type(err).__name__}")
        finally:
            stream.done.set()

    async def _on_chunk(self, event: Event) -> None:
        stream = self._stream
        if stream is None or stream.voice is None or stream.send is None:
            return  # no stream, or one that already failed
        raw = event_data(event, "text", str, "")
        stream.chars += len(raw)
        if stream.chars > self.settings.tts_max_text_chars:
            await self._abort_stream(
                "text-too-long", f"streamed text is over the limit of {self.settings.tts_max_text_chars} characters"
            )
            return
        text = stream.pending + raw
        cut = text.rfind("<")
        if cut != -1 and ">" not in text[cut:] and len(text) - cut < 200:
            text, stream.pending = text[:cut], text[cut:]
        else:
            stream.pending = ""
        for piece in stream.splitter.add(clean_for_speech(text, ssml=stream.ssml, strip=False)):
            with suppress(anyio.ClosedResourceError):  # closed on SIGTERM: the rest is not spoken
                stream.send.send_nowait(piece)

    async def _abort_stream(self, code: str, text: str) -> None:
        stream = self._stream
        assert stream is not None
        self.close_stream()
        stream.voice = None
        if stream.send is not None:
            send, stream.send = stream.send, None
            stream.scope.cancel()  # stop speaking now; the audio block is still closed properly
            await send.aclose()
            await stream.done.wait()
        await self.send_error(code, text)

    async def _on_stop(self) -> None:
        if self._stream is None:
            return  # a stop with no stream: nothing to end
        await self._finish_stream()
        await self.write_event(SynthesizeStopped().event())

    async def _finish_stream(self) -> None:
        stream, self._stream = self._stream, None
        assert stream is not None
        self.close_stream()
        if stream.send is None:
            return
        tail = clean_for_speech(stream.pending, ssml=stream.ssml, strip=False) if stream.pending else ""
        for piece in stream.splitter.add(tail) + stream.splitter.finish():
            with suppress(anyio.ClosedResourceError):
                stream.send.send_nowait(piece)
        await stream.send.aclose()
        await stream.done.wait()

    # --- synthesis ---------------------------------------------------------------------------

    async def _speak(self, pieces: AsyncIterator[Piece], voice: VoiceInfo, speaker_id: int | None, kind: str) -> None:
        """Synthesize pieces in order into one audio-start ... audio-stop block.

        Raises ClientError for failures the client should hear about; an error after audio
        started still closes the block first so the client is never left waiting.
        """
        started = time.perf_counter()
        rate = voice.rate
        audio_started = False
        pause = b""
        count = 0
        sources: set[str] = set()
        skipped = ""
        with tracer.start_as_current_span("tts.synthesize") as span:
            span.set_attribute("tts.voice", voice.name)
            span.set_attribute("tts.kind", kind)
            try:
                await self.svc.wait_ready()
                async for piece in pieces:
                    if self.stopping:
                        break  # SIGTERM: the piece before this one was the last
                    if kind == "stream" and foreign_script(piece.text, voice.languages[0]):
                        skipped = piece.text
                        _LOGGER.warning("tts: skipping text %r: not in %s's script", private(piece.text), voice.name)
                        continue
                    self._speaking = True
                    audio = await self._synthesize(voice, piece.text, speaker_id, admitted=count > 0)
                    sources.add(audio.source)
                    if not audio_started:
                        await self.write_event(AudioStart(rate=rate, width=WIDTH, channels=CHANNELS).event())
                        audio_started = True
                        first_audio = time.perf_counter() - started
                        LATENCY.labels("tts", "first_audio").observe(first_audio)
                        span.set_attribute("tts.first_audio_seconds", first_audio)
                    await self._write_pcm(pause + audio.pcm, rate)
                    pause = self._pause_after(piece, rate)
                    count += 1
                    self._speaking = False
            except ModelUnavailable as err:
                raise ClientError("model-unavailable", str(err)) from None
            except Busy as err:
                raise ClientError("busy", str(err)) from None
            except SynthesisFailed as err:
                raise ClientError("synthesis-failed", str(err)) from None
            finally:
                self._speaking = False
                span.set_attribute("tts.pieces", count)
                span.set_attribute("tts.degraded", "espeak" in sources)
                if audio_started:  # close the block even on failure; a client that left can't be told
                    with anyio.move_on_after(2, shield=True), suppress(ConnectionError, RuntimeError):
                        await self.write_event(AudioStop().event())
            if not audio_started and skipped:
                _check_script(skipped, voice)
            if not audio_started and not self.stopping:
                raise ClientError("empty-text", "nothing to say: the text is empty or has no letters or digits")
        if "espeak" in sources:
            _LOGGER.warning("tts: answered with the degraded espeak-ng voice (Piper voice %s failed)", voice.name)
        LATENCY.labels("tts", "total").observe(time.perf_counter() - started)

    async def _synthesize(self, voice: VoiceInfo, text: str, speaker_id: int | None, admitted: bool) -> Audio:
        """One piece in a worker thread, through the synthesis queue (`admitted`: this request already got in)."""
        piece_started = time.perf_counter()
        async with self.svc.queue.slot(admitted=admitted):
            audio = await anyio.to_thread.run_sync(self.svc.bank.synthesize, voice, text, speaker_id)
        LATENCY.labels("tts", "piece").observe(time.perf_counter() - piece_started)
        return audio

    async def _write_pcm(self, pcm: bytes, rate: int) -> None:
        """A piece's audio in chunks of SAMPLES_PER_CHUNK, sent in one write."""
        size = SAMPLES_PER_CHUNK * WIDTH * CHANNELS
        chunks = (
            AudioChunk(rate=rate, width=WIDTH, channels=CHANNELS, audio=pcm[i : i + size])
            for i in range(0, len(pcm), size)
        )
        await self.write_events(chunk.event() for chunk in chunks)

    def _pause_after(self, piece: Piece, rate: int) -> bytes:
        """The silence before the next piece: a sentence's pause, or a shorter one where a clause was cut."""
        seconds = self.settings.tts_sentence_silence if piece.sentence_end else self.settings.tts_clause_silence
        return silence(seconds, rate)


def _check_script(text: str, voice: VoiceInfo) -> None:
    script = foreign_script(text, voice.languages[0])
    if script is not None:
        raise ClientError(
            "unsupported-language",
            f"voice {voice.name} speaks {voice.languages[0]}, but this text is mostly {script.title()} script; "
            f"choose a voice for that language",
        )


def _voice_error_code(err: UnknownVoice) -> str:
    if isinstance(err, UnknownLanguage):
        return "unsupported-language"
    return "unknown-speaker" if isinstance(err, UnknownSpeaker) else "unknown-voice"


async def _iterate(pieces: Iterable[Piece]) -> AsyncIterator[Piece]:
    for piece in pieces:
        yield piece


async def _receive(receive: MemoryObjectReceiveStream[Piece]) -> AsyncIterator[Piece]:
    async for piece in receive:
        yield piece


def main(settings: TtsSettings, args: argparse.Namespace) -> int:
    return run([TtsService(settings, settings.tts_uri)], settings)
