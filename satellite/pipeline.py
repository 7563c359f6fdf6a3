"""The satellite's own pipeline: VAD -> ASR (streamed while the user speaks) -> handle -> TTS -> speaker.

Handle's streamed chunks go straight into a streaming TTS request, and TTS audio goes straight to the
speaker, so the first words play before the whole answer exists. Every service call has a timeout and
fails over to another instance of the same service (ASR replays the utterance it buffered).
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from opentelemetry import trace
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, NotHandled
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from satellite.audio import CHANNELS, FRAME_SECONDS, RATE, WIDTH, MicFailed, Playback, Speaker, mic_frames
from satellite.discovery import Directory, Endpoint, NoService
from satellite.feedback import feedback
from wyoming_xnai.server.logs import setup_logging
from wyoming_xnai.server.tracing import setup_tracing, tracer
from wyoming_xnai.settings import Settings
from wyoming_xnai.vad import SileroVad

_LOGGER = logging.getLogger(__name__)
Frame = tuple[float, bytes]  # (monotonic capture time, 512 samples of 16 kHz mono s16)
MIC_BUFFER_FRAMES = 512  # ~16 s; frames beyond it are dropped while a turn is busy


class ServiceFailed(Exception):
    """A service answered with an error event or an unexpected close."""


SERVICE_ERRORS = (
    OSError,
    EOFError,
    TimeoutError,
    ServiceFailed,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    KeyError,  # the rest: malformed events from a misbehaving service
    TypeError,
    ValueError,
)


def conversation_id(settings: Settings) -> str:
    """Stable per satellite, so the handle server keeps the history of follow-up questions."""
    return settings.satellite_conversation_id or f"xnai-satellite-{settings.satellite_name or socket.gethostname()}"


@dataclass
class Turn:
    """One utterance and its answer, with the time each stage finished (monotonic seconds)."""

    speech_start: float
    speech_end: float = 0.0  # end of the last voiced VAD frame
    endpoint: float = 0.0  # the VAD decided the user is done (the answer may play from now on)
    asr_stop_at: float = 0.0  # audio-stop sent (before the endpoint when speculating)
    transcript_at: float = 0.0
    first_text_at: float = 0.0  # first answer text from handle
    first_audio_at: float = 0.0  # first audio from TTS
    first_played_at: float = 0.0  # first byte handed to the speaker
    done_at: float = 0.0
    transcript: str = ""
    answer: str = ""
    asr_uri: str = ""
    handle_uri: str = ""
    tts_uri: str = ""
    errors: list[str] = field(default_factory=list)

    def stages(self) -> dict[str, float]:
        """Seconds per stage. With speculation ASR/handle/TTS start before the endpoint, so the stages
        overlap the end-of-utterance silence; `end_of_speech_to_first_audio` is what the user waits."""
        out: dict[str, float] = {}
        if self.endpoint:
            out["vad_endpoint"] = self.endpoint - self.speech_end
        if self.asr_stop_at and self.endpoint:
            out["head_start"] = max(0.0, self.endpoint - self.asr_stop_at)
        for name, start, end in (
            ("asr", self.asr_stop_at, self.transcript_at),
            ("handle_first_text", self.transcript_at, self.first_text_at),
            ("tts_first_audio", self.first_text_at, self.first_audio_at),
            ("first_played", max(self.first_audio_at, self.endpoint), self.first_played_at),
        ):
            if start and end:
                out[name] = end - start
        if self.first_played_at:
            out["end_of_speech_to_first_audio"] = self.first_played_at - self.speech_end
        return out

    def record(self) -> None:
        """One span per stage (exported only with --otlp-endpoint), from the marks taken on the way."""
        offset = time.time_ns() - time.monotonic_ns()

        def ns(mark: float) -> int:
            return int(mark * 1e9) + offset

        if not (self.speech_start and self.done_at):
            return
        root = tracer.start_span("satellite.turn", start_time=ns(self.speech_start))
        root.set_attribute("satellite.transcript_chars", len(self.transcript))
        for name, value in self.stages().items():
            root.set_attribute(f"satellite.{name}_seconds", round(value, 4))
        context = trace.set_span_in_context(root)
        for name, start, end in (
            ("satellite.listen", self.speech_start, self.endpoint),
            ("satellite.asr", self.asr_stop_at, self.transcript_at),
            ("satellite.handle", self.transcript_at, self.first_text_at),
            ("satellite.tts", self.first_text_at, self.first_audio_at),
            ("satellite.play", self.first_played_at, self.done_at),
        ):
            if start and end:
                tracer.start_span(name, context=context, start_time=ns(start)).end(end_time=ns(end))
        root.end(end_time=ns(self.done_at))


class Segmenter:
    """Silero VAD over 32 ms frames: says when speech starts and ends, keeps a short pre-roll."""

    def __init__(self, settings: Settings) -> None:
        self._vad = SileroVad()
        self.threshold = settings.satellite_vad_threshold
        self.min_speech = settings.satellite_min_speech
        self.end_silence = settings.satellite_end_silence
        self.max_seconds = settings.satellite_max_utterance
        self.preroll: deque[bytes] = deque(maxlen=max(1, int(settings.satellite_preroll / FRAME_SECONDS)))
        self.reset()

    def reset(self) -> None:
        self._vad.reset()
        self.preroll.clear()
        self.in_speech = False
        self._voiced = 0.0
        self.silence = 0.0
        self._length = 0.0
        self.last_voiced_at = 0.0

    def feed(self, frame: bytes, captured: float) -> Literal["start", "end"] | None:
        voiced = self._vad(frame) >= self.threshold
        if not self.in_speech:
            self.preroll.append(frame)
            self._voiced = self._voiced + FRAME_SECONDS if voiced else 0.0
            if self._voiced >= self.min_speech - 1e-9:
                self.in_speech = True
                self.silence = 0.0
                self._length = len(self.preroll) * FRAME_SECONDS
                self.last_voiced_at = captured + FRAME_SECONDS
                return "start"
            return None
        self._length += FRAME_SECONDS
        if voiced:
            self.silence = 0.0
            self.last_voiced_at = captured + FRAME_SECONDS
        else:
            self.silence += FRAME_SECONDS
        if self.silence >= self.end_silence - 1e-9 or self._length >= self.max_seconds:
            self.in_speech = False
            self._voiced = 0.0
            self.preroll.clear()
            return "end"
        return None


async def read_event(client: AsyncClient, timeout: float) -> Event:
    """The next event, or ServiceFailed/TimeoutError: a dead service never blocks the satellite."""
    with anyio.fail_after(timeout):
        event = await client.read_event()
    if event is None:
        raise ServiceFailed("connection closed")
    if Error.is_type(event.type):
        err = Error.from_event(event)
        raise ServiceFailed(f"error {err.code}: {err.text}")
    return event


async def connect(uri: str, timeout: float) -> AsyncClient:
    client = AsyncClient.from_uri(uri)
    with anyio.fail_after(timeout):
        await client.connect()
    return client


async def close(client: AsyncClient | None) -> None:
    if client is None:
        return
    with anyio.move_on_after(1, shield=True):
        try:
            await client.disconnect()
        except OSError:
            pass


class AsrStream:
    """One utterance streamed to ASR while the user speaks; if the instance dies, the buffered
    audio is replayed to the next one, so the utterance still succeeds."""

    def __init__(self, directory: Directory, settings: Settings) -> None:
        self.directory = directory
        self.settings = settings
        self.timeout = settings.satellite_timeout
        self.audio = bytearray()
        self.client: AsyncClient | None = None
        self.endpoint: Endpoint | None = None
        self._tried: set[str] = set()
        self._gave_up = False
        self.paused = False

    async def _open(self, wait: float) -> None:
        """Connect to the best untried instance and replay what we have so far."""
        candidates = await self.directory.wait_for("asr", wait)
        fresh = [e for e in candidates if e.uri not in self._tried] or candidates
        for endpoint in fresh:
            self._tried.add(endpoint.uri)
            client = None
            try:
                client = await connect(endpoint.uri, self.timeout)
                with anyio.fail_after(self.timeout):
                    await client.write_event(Transcribe(language=self.settings.satellite_language).event())
                    await client.write_event(AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event())
                    if self.audio:
                        await client.write_event(self._chunk(bytes(self.audio)))
            except SERVICE_ERRORS as err:
                await close(client)
                self.directory.mark_failed(endpoint, f"{type(err).__name__}: {err}")
                continue
            self.client, self.endpoint = client, endpoint
            _LOGGER.info("asr: streaming to %s", endpoint.uri)
            return
        raise NoService("no asr service answered")

    @staticmethod
    def _chunk(pcm: bytes) -> Event:
        return AudioChunk(rate=RATE, width=WIDTH, channels=CHANNELS, audio=pcm).event()

    async def _failed(self, err: BaseException) -> None:
        assert self.endpoint is not None
        self.directory.mark_failed(self.endpoint, f"{type(err).__name__}: {err}")
        _LOGGER.warning("asr: %s failed mid-utterance (%s); failing over", self.endpoint.uri, err)
        await close(self.client)
        self.client = self.endpoint = None

    def pause(self) -> None:
        """Stop streaming (audio-stop is about to go out for a speculative transcript); keep buffering."""
        self.paused = True

    async def resume(self) -> None:
        """The user spoke again: drop the finished request; the next frame replays the whole utterance."""
        busy = self.endpoint.uri if self.endpoint else None
        await close(self.client)
        self.client = self.endpoint = None
        self.paused = self._gave_up = False
        self._tried.clear()
        if busy:
            self._tried.add(busy)  # it is still transcribing the dropped part: prefer another instance

    async def send(self, pcm: bytes) -> None:
        self.audio += pcm
        if self.paused:
            return
        if self.client is None:
            if self._gave_up:
                return  # keep buffering; finish() tries again and waits for discovery
            try:
                await self._open(wait=0)  # replays the buffer, including this frame
            except NoService:
                self._gave_up = True
            return
        try:
            with anyio.fail_after(self.timeout):
                await self.client.write_event(self._chunk(pcm))
        except SERVICE_ERRORS as err:
            await self._failed(err)

    async def finish(self) -> str:
        """audio-stop, then the transcript; fails over (with replay) until every instance was tried."""
        attempts = 0
        while True:
            attempts += 1
            if self.client is None:
                await self._open(wait=self.timeout if attempts == 1 else 0)
            assert self.client is not None and self.endpoint is not None
            try:
                with anyio.fail_after(self.timeout):
                    await self.client.write_event(AudioStop().event())
                while True:
                    event = await read_event(self.client, self.timeout)
                    if Transcript.is_type(event.type):
                        self.directory.mark_ok(self.endpoint)
                        return Transcript.from_event(event).text
            except SERVICE_ERRORS as err:
                await self._failed(err)
                if attempts > len(self.directory.candidates("asr")):
                    raise NoService(f"every asr service failed; last: {err}") from None

    async def aclose(self) -> None:
        await close(self.client)
        self.client = None


class Output:
    """The speaker for one answer, opened only once the answer is committed: a speculative answer
    is prepared while the user may still speak, and is dropped unheard if they do."""

    def __init__(self, speaker: Speaker, commit: anyio.Event) -> None:
        self.speaker = speaker
        self.commit = commit
        self.playback: Playback | None = None
        self._stack = AsyncExitStack()

    @property
    def bytes(self) -> int:
        return self.playback.bytes if self.playback else 0

    @property
    def first_byte_at(self) -> float | None:
        return self.playback.first_byte_at if self.playback else None

    async def write(self, chunk: AudioChunk) -> None:
        if self.playback is None:
            await self.commit.wait()
            self.playback = await self._stack.enter_async_context(self.speaker.play())
        await self.playback.write(chunk)

    async def aclose(self) -> None:
        await self._stack.aclose()


class Responder:
    """Answer text from handle, streamed into TTS, streamed to the speaker."""

    def __init__(self, directory: Directory, settings: Settings, speaker: Speaker) -> None:
        self.directory = directory
        self.settings = settings
        self.speaker = speaker
        self.timeout = settings.satellite_timeout
        self.conversation_id = conversation_id(settings)

    async def respond(self, turn: Turn, commit: anyio.Event) -> None:
        send, recv = anyio.create_memory_object_stream[str](256)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._handle, turn, send)
            await self._speak(turn, recv, commit)

    async def _candidates(self, kind: str, turn: Turn) -> list[Endpoint]:
        """Instances of a service to try, best first; none (logged, kept in the turn) when none is found."""
        try:
            return await self.directory.wait_for(kind, self.timeout)
        except NoService as err:
            turn.errors.append(str(err))
            _LOGGER.error("%s", err)
            return []

    # --- handle ------------------------------------------------------------------------------
    async def _handle(self, turn: Turn, send: MemoryObjectSendStream[str]) -> None:
        async with send:
            candidates = await self._candidates("handle", turn)
            if not candidates:
                return
            for endpoint in candidates:
                pushed = False
                try:
                    async with AsyncClient.from_uri(endpoint.uri) as client:
                        context = {"conversation_id": self.conversation_id}
                        request = Transcript(
                            turn.transcript, language=self.settings.satellite_language, context=context
                        )
                        await client.write_event(request.event())
                        while True:
                            event = await read_event(client, self.timeout)
                            text = None
                            if HandledChunk.is_type(event.type):
                                text = HandledChunk.from_event(event).text
                            elif Handled.is_type(event.type) or NotHandled.is_type(event.type):
                                final = event.data.get("text") or ""
                                if not pushed and final:
                                    await self._push(turn, send, final)
                                turn.answer = final or turn.answer
                                break
                            if text:
                                pushed = True
                                await self._push(turn, send, text)
                    turn.handle_uri = endpoint.uri
                    self.directory.mark_ok(endpoint)
                    return
                except SERVICE_ERRORS as err:
                    self.directory.mark_failed(endpoint, f"{type(err).__name__}: {err}")
                    turn.errors.append(f"handle {endpoint.uri}: {err}")
                    if pushed:
                        _LOGGER.warning("handle: %s failed mid-answer (%s); speaking what we have", endpoint.uri, err)
                        return
            _LOGGER.error("handle: every instance failed")

    async def _push(self, turn: Turn, send: MemoryObjectSendStream[str], text: str) -> None:
        if not turn.first_text_at:
            turn.first_text_at = time.monotonic()
        if not turn.answer or not turn.answer.endswith(text):
            turn.answer += text
        await send.send(text)

    # --- TTS ---------------------------------------------------------------------------------
    async def _speak(self, turn: Turn, recv: MemoryObjectReceiveStream[str], commit: anyio.Event) -> None:
        received: list[str] = []
        async with recv:
            candidates = await self._candidates("tts", turn)
            if not candidates:
                async for _ in recv:
                    pass
                return
            output = Output(self.speaker, commit)
            try:
                for endpoint in candidates:
                    try:
                        await self._speak_on(endpoint, turn, recv, received, output)
                        turn.tts_uri = endpoint.uri
                        self.directory.mark_ok(endpoint)
                        return
                    except SERVICE_ERRORS as err:
                        self.directory.mark_failed(endpoint, f"{type(err).__name__}: {err}")
                        turn.errors.append(f"tts {endpoint.uri}: {err}")
                        if output.bytes:
                            _LOGGER.warning("tts: %s failed mid-answer (%s); answer cut short", endpoint.uri, err)
                            break
                _LOGGER.error("tts: no instance could speak the answer")
                async for _ in recv:
                    pass
            finally:
                with anyio.CancelScope(shield=True):
                    await output.aclose()

    async def _speak_on(
        self,
        endpoint: Endpoint,
        turn: Turn,
        recv: MemoryObjectReceiveStream[str],
        received: list[str],
        output: Output,
    ) -> None:
        voice = SynthesizeVoice(name=self.settings.satellite_voice) if self.settings.satellite_voice else None
        client = await connect(endpoint.uri, self.timeout)
        try:
            if not endpoint.tts_streaming:
                async for text in recv:
                    received.append(text)
                text = "".join(received).strip()
                if not text:
                    return
                await client.write_event(Synthesize(text=text, voice=voice).event())
                await self._play(client, turn, output, "audio-stop")
                return
            failure: list[BaseException] = []
            async with anyio.create_task_group() as tg:

                async def play() -> None:
                    try:
                        await self._play(client, turn, output, "synthesize-stopped")
                    except SERVICE_ERRORS as err:
                        failure.append(err)
                        tg.cancel_scope.cancel()

                tg.start_soon(play)
                try:
                    await client.write_event(SynthesizeStart(voice=voice).event())
                    for text in received:  # replay after a failover
                        await client.write_event(SynthesizeChunk(text=text).event())
                    async for text in recv:
                        received.append(text)
                        await client.write_event(SynthesizeChunk(text=text).event())
                    full = "".join(received)
                    await client.write_event(Synthesize(text=full, voice=voice).event())  # back-compat copy
                    await client.write_event(SynthesizeStop().event())
                except SERVICE_ERRORS as err:
                    failure.append(err)
                    tg.cancel_scope.cancel()
            if failure:
                raise failure[0]
        finally:
            await close(client)

    async def _play(self, client: AsyncClient, turn: Turn, output: Output, until: str) -> None:
        while True:
            event = await read_event(client, self.timeout)
            if AudioChunk.is_type(event.type):
                if not turn.first_audio_at:
                    turn.first_audio_at = time.monotonic()
                await output.write(AudioChunk.from_event(event))
                if not turn.first_played_at and output.first_byte_at:
                    turn.first_played_at = output.first_byte_at
            elif event.type == until:
                return


def strip_wake_phrase(text: str, phrase: str) -> str | None:
    """The request after the wake phrase, or None when the utterance did not start with it."""

    def norm(s: str) -> list[str]:
        return [w.strip(".,!?;:'\"").lower() for w in s.split() if w.strip(".,!?;:'\"")]

    want, words = norm(phrase), text.split()
    if norm(" ".join(words[: len(want)])) != want:
        return None
    return " ".join(words[len(want) :]).strip(" ,.")


class Satellite:
    """The local pipeline loop: one turn at a time, the mic ignored while answering and just after."""

    def __init__(
        self,
        settings: Settings,
        directory: Directory,
        speaker: Speaker,
        on_turn: Callable[[Turn], None] | None = None,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.speaker = speaker
        self.responder = Responder(directory, settings, speaker)
        self.segmenter = Segmenter(settings)
        self.on_turn = on_turn
        self.deaf_until = 0.0
        self.awake_until = 0.0
        self.turns: list[Turn] = []

    async def run(self, frames: MemoryObjectReceiveStream[Frame]) -> None:
        async with frames:
            async for captured, frame in frames:
                if captured < self.deaf_until:
                    continue
                if self.segmenter.feed(frame, captured) != "start":
                    continue
                try:
                    turn = await self._turn(captured, frames)
                except Exception:  # a bug in one turn must not end the satellite
                    _LOGGER.exception("the turn failed; listening again")
                    turn = None
                self.deaf_until = time.monotonic() + self.settings.satellite_refractory
                self.segmenter.reset()
                if turn is None:
                    continue
                self.turns.append(turn)
                if self.on_turn is not None:
                    self.on_turn(turn)
                if self.settings.satellite_once and turn.answer:
                    return

    async def _turn(self, started: float, frames: MemoryObjectReceiveStream[Frame]) -> Turn | None:
        """Listen until the endpoint. With `--speculate`, the answer is prepared from the first short
        pause on and played only at the endpoint; if the user speaks again it is dropped unheard."""
        settings = self.settings
        segmenter = self.segmenter
        turn = Turn(speech_start=started)
        _LOGGER.info("speech started")
        asr = AsrStream(self.directory, settings)
        result: list[Turn | None] = []
        commit = anyio.Event()
        speculate = settings.satellite_speculate
        if not speculate or speculate >= settings.satellite_end_silence:
            speculate = None
        speculation: anyio.CancelScope | None = None
        finished = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    feedback, self.speaker, settings.satellite_awake_command, settings.satellite_awake_wav, "awake"
                )
                await asr.send(b"".join(segmenter.preroll))
                async for captured, frame in frames:
                    ended = segmenter.feed(frame, captured) == "end"
                    await asr.send(frame)
                    if ended:
                        break
                    if speculation is None and speculate is not None and segmenter.silence >= speculate - 1e-9:
                        speculation, finished = anyio.CancelScope(), anyio.Event()
                        asr.pause()
                        tg.start_soon(self._answer, turn, asr, commit, result, speculation, finished)
                    elif speculation is not None and segmenter.silence == 0.0:
                        _LOGGER.info("speech resumed: the speculative answer is dropped")
                        speculation.cancel()
                        await finished.wait()
                        speculation = None
                        await asr.resume()
                        turn = Turn(speech_start=started)
                        result.clear()
                turn.endpoint = time.monotonic()
                turn.speech_end = segmenter.last_voiced_at
                commit.set()
                tg.start_soon(
                    feedback, self.speaker, settings.satellite_done_command, settings.satellite_done_wav, "done"
                )
                if speculation is None:
                    await self._answer(turn, asr, commit, result, anyio.CancelScope(), finished)
        finally:
            await asr.aclose()
        return result[0] if result else None

    async def _answer(
        self,
        turn: Turn,
        asr: AsrStream,
        commit: anyio.Event,
        result: list[Turn | None],
        scope: anyio.CancelScope,
        finished: anyio.Event,
    ) -> None:
        """Transcript -> (wake phrase) -> handle -> TTS -> speaker (which waits for `commit`)."""
        settings = self.settings
        try:
            with scope:
                turn.asr_stop_at = time.monotonic()
                try:
                    turn.transcript = (await asr.finish()).strip()
                except NoService as err:
                    _LOGGER.error("asr: %s", err)
                    turn.errors.append(str(err))
                    result.append(turn)
                    return
                turn.transcript_at = time.monotonic()
                turn.asr_uri = asr.endpoint.uri if asr.endpoint else ""
                _LOGGER.info("transcript: %r", turn.transcript)
                if not turn.transcript:
                    result.append(turn)
                    return
                if settings.satellite_wake_phrase and time.monotonic() > self.awake_until:
                    request = strip_wake_phrase(turn.transcript, settings.satellite_wake_phrase)
                    if request is None:
                        _LOGGER.info("not for me (no wake phrase)")
                        result.append(None)
                        return
                    if not request:
                        await commit.wait()
                        self.awake_until = time.monotonic() + 8.0  # "hey jarvis" ... pause ... the question
                        result.append(None)
                        return
                    turn.transcript = request
                await self.responder.respond(turn, commit)
                await commit.wait()
                self.awake_until = 0.0
                turn.done_at = time.monotonic()
                _LOGGER.info("answer: %r", turn.answer)
                stages = ", ".join(f"{k} {v:.3f} s" for k, v in turn.stages().items())
                _LOGGER.info("timings: %s", stages)
                turn.record()
                result.append(turn)
                await feedback(self.speaker, settings.satellite_played_command, None, "played")
        finally:
            finished.set()


async def pump_mic(settings: Settings, send: MemoryObjectSendStream[Frame]) -> None:
    """Mic frames into a bounded buffer; the mic is never blocked by a slow turn (frames are dropped)."""
    dropped = 0
    async with send:
        try:
            async for frame in mic_frames(settings):
                try:
                    send.send_nowait((time.monotonic(), frame))
                except anyio.WouldBlock:
                    dropped += 1
                    if dropped % 100 == 1:
                        _LOGGER.debug("mic: dropped %d frames while busy", dropped)
        except MicFailed as err:
            _LOGGER.error("%s", err)


async def run_satellite(
    settings: Settings,
    on_turn: Callable[[Turn], None] | None = None,
    frames: AsyncIterator[bytes] | None = None,
) -> Satellite:
    """Discovery, mic and pipeline together until the mic ends, `--once` is satisfied, or a signal."""
    directory = Directory(settings)
    speaker = Speaker(settings)
    satellite = Satellite(settings, directory, speaker, on_turn)
    send, recv = anyio.create_memory_object_stream[Frame](MIC_BUFFER_FRAMES)
    async with anyio.create_task_group() as tg:
        await tg.start(directory.run)
        tg.start_soon(_stop_on_signal, tg.cancel_scope)
        if frames is None:
            tg.start_soon(pump_mic, settings, send)
        else:
            tg.start_soon(_pump_frames, frames, send)
        await satellite.run(recv)
        tg.cancel_scope.cancel()
    return satellite


async def _pump_frames(frames: AsyncIterator[bytes], send: MemoryObjectSendStream[Frame]) -> None:
    async with send:
        async for frame in frames:
            await send.send((time.monotonic(), frame))


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            _LOGGER.info("received %s, stopping", signal.Signals(signum).name)
            scope.cancel()
            return


def main(settings: Settings) -> int:
    setup_logging(settings.debug, settings.log_format)
    provider = setup_tracing(settings.otlp_endpoint)
    try:
        satellite = anyio.run(run_satellite, settings, backend="asyncio")
    finally:
        if provider is not None:
            provider.shutdown()
    if settings.satellite_once or settings.satellite_mic_wav is not None:
        return 0 if any(t.answer for t in satellite.turns) else 1
    return 0
