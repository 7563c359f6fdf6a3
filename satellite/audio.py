"""Microphone in and speaker out: shell commands (as Wyoming satellites do) or WAV files (tests, demos).

Everything inside the satellite is 16 kHz, 16-bit mono (what Silero VAD and the ASR want); the mic is
converted to it, and TTS audio is converted to the format the speaker command expects. A sound that
is left without `drain()` (an interrupted answer) stops at once.
"""

from __future__ import annotations

import logging
import shlex
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.abc import Process
from wyoming.audio import AudioChunk, AudioChunkConverter

from wyoming_xnai.audio.format import CHANNELS, FRAME_BYTES, FRAME_SECONDS, RATE, WIDTH
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)

MIC_STALL_SECONDS = 5.0  # a recorder that stops delivering is as broken as one that exits
WAV_LEAD_SECONDS = 0.1  # how far a WAV "speaker" may run ahead of real time (a sound card's buffer)


class MicFailed(Exception):
    """The microphone could not be opened or stopped delivering audio."""


class _Framer:
    """Converts any PCM format to 16 kHz mono s16 and cuts it into VAD-sized frames."""

    def __init__(self, rate: int, width: int, channels: int) -> None:
        self.rate, self.width, self.channels = rate, width, channels
        self._converter = AudioChunkConverter(rate=RATE, width=WIDTH, channels=CHANNELS)
        self._pending = bytearray()
        self._frame_in = width * channels

    def feed(self, data: bytes) -> list[bytes]:
        usable = len(data) - len(data) % self._frame_in
        chunk = AudioChunk(rate=self.rate, width=self.width, channels=self.channels, audio=data[:usable])
        self._pending += self._converter.convert(chunk).audio
        frames = []
        while len(self._pending) >= FRAME_BYTES:
            frames.append(bytes(self._pending[:FRAME_BYTES]))
            del self._pending[:FRAME_BYTES]
        return frames


async def wav_frames(path: Path, trailing_silence: float = 2.0, realtime: bool = True) -> AsyncIterator[bytes]:
    """A WAV file as a microphone: paced in real time, then a little room silence, then the end."""
    try:
        with wave.open(str(path), "rb") as wav:
            framer = _Framer(wav.getframerate(), wav.getsampwidth(), wav.getnchannels())
            data = wav.readframes(wav.getnframes())
    except (OSError, wave.Error, EOFError) as err:
        raise MicFailed(f"cannot read mic WAV {path}: {err}") from None
    frames = framer.feed(data) + [bytes(FRAME_BYTES)] * int(trailing_silence / FRAME_SECONDS)
    started = time.monotonic()
    for i, frame in enumerate(frames):
        if realtime:
            delay = started + i * FRAME_SECONDS - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
        yield frame


async def command_frames(command: str, rate: int, width: int, channels: int) -> AsyncIterator[bytes]:
    """Frames from a recording command's stdout; raises MicFailed when it cannot start or stops."""
    framer = _Framer(rate, width, channels)
    try:
        process = await anyio.open_process(shlex.split(command), stdin=None, stderr=None)
    except OSError as err:
        raise MicFailed(f"mic command '{command}' cannot start: {err.strerror or err}") from None
    async with process:
        assert process.stdout is not None
        try:
            while True:
                try:
                    with anyio.fail_after(MIC_STALL_SECONDS):
                        data = await process.stdout.receive(4096)
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                except TimeoutError:
                    raise MicFailed(f"mic command '{command}' gave no audio for {MIC_STALL_SECONDS:.0f} s") from None
                for frame in framer.feed(data):
                    yield frame
        finally:
            if process.returncode is None:
                process.terminate()
                with anyio.move_on_after(2, shield=True):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
    raise MicFailed(f"mic command '{command}' stopped (exit code {process.returncode})")


async def mic_frames(settings: SatelliteSettings) -> AsyncIterator[bytes]:
    """The configured microphone. A mic command that fails is reported and restarted with backoff."""
    if settings.satellite_mic_wav is not None:
        async for frame in wav_frames(settings.satellite_mic_wav):
            yield frame
        return
    if not settings.satellite_mic_command:
        raise MicFailed("no microphone: give --mic-command or --mic-wav")
    delay = 1.0
    while True:
        started = time.monotonic()
        try:
            async for frame in command_frames(
                settings.satellite_mic_command,
                settings.satellite_mic_rate,
                settings.satellite_mic_width,
                settings.satellite_mic_channels,
            ):
                yield frame
        except MicFailed as err:
            if time.monotonic() - started > 30:
                delay = 1.0  # it ran for a while: a fresh failure, not a broken setup
            _LOGGER.error("%s; retrying in %.0f s", err, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)


class Playback:
    """One sound being played: converts TTS audio to the speaker's format and records when it began."""

    def __init__(self, rate: int, width: int, channels: int) -> None:
        self.rate, self.width, self.channels = rate, width, channels
        self._converter = AudioChunkConverter(rate=rate, width=width, channels=channels)
        self.first_byte_at: float | None = None
        self.bytes = 0
        self.drained = False

    def convert(self, chunk: AudioChunk) -> bytes:
        return self._converter.convert(chunk).audio

    async def write(self, chunk: AudioChunk) -> None:
        try:
            data = self.convert(chunk)
        except Exception as err:  # audioop.error on a width/rate the converter cannot handle
            raise ValueError(f"cannot play audio {chunk.rate} Hz/{chunk.width} B/{chunk.channels} ch: {err}") from None
        if not data:
            return
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        await self._write(data)
        self.bytes += len(data)

    async def _write(self, data: bytes) -> None:
        raise NotImplementedError

    async def drain(self) -> None:
        """Wait until everything written has been heard. Leaving `Speaker.play` without it stops the sound."""
        self.drained = True

    @property
    def seconds(self) -> float:
        return self.bytes / (self.rate * self.width * self.channels)


class _WavPlayback(Playback):
    """Writes what would be heard, paced like a real speaker: an interrupted answer ends where it was
    stopped, and drain() returns when the sound would have finished."""

    def __init__(self, wav: wave.Wave_write, rate: int, width: int, channels: int) -> None:
        super().__init__(rate, width, channels)
        self._wav = wav

    async def _write(self, data: bytes) -> None:
        if self.first_byte_at is not None:
            ahead = self.first_byte_at + self.seconds - time.monotonic()
            if ahead > WAV_LEAD_SECONDS:
                await anyio.sleep(ahead - WAV_LEAD_SECONDS)
        self._wav.writeframes(data)

    async def drain(self) -> None:
        if self.first_byte_at is not None:
            await anyio.sleep(max(0.0, self.first_byte_at + self.seconds - time.monotonic()))
        self.drained = True


class _CommandPlayback(Playback):
    def __init__(self, process: Process | None, rate: int, width: int, channels: int) -> None:
        super().__init__(rate, width, channels)
        self._process = process
        self.broken = False

    async def _write(self, data: bytes) -> None:
        stdin = self._process.stdin if self._process else None
        if stdin is None or self.broken:
            return
        try:
            await stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as err:
            self.broken = True
            _LOGGER.error("snd command stopped taking audio: %s", err)

    async def drain(self) -> None:
        """Close the player's input and wait for it to exit (that is when the sound has been heard)."""
        if self._process is not None:
            await _drain(self._process, self.seconds + 5.0)
        self.drained = True


class Speaker:
    """Where answers are played: a command per sound (like aplay), numbered WAV files, or nowhere."""

    def __init__(self, settings: SatelliteSettings) -> None:
        self.command = settings.satellite_snd_command
        self.wav = settings.satellite_snd_wav
        self.rate, self.width, self.channels = (
            settings.satellite_snd_rate,
            settings.satellite_snd_width,
            settings.satellite_snd_channels,
        )
        self.count = 0
        self.files: list[Path] = []

    @property
    def enabled(self) -> bool:
        return bool(self.command or self.wav)

    def _next_wav(self) -> Path:
        assert self.wav is not None
        self.count += 1
        if self.wav.is_dir():
            return self.wav / f"answer-{self.count:03d}.wav"
        if self.count == 1:
            return self.wav
        return self.wav.with_name(f"{self.wav.stem}-{self.count}{self.wav.suffix}")

    @asynccontextmanager
    async def play(self) -> AsyncIterator[Playback]:
        """Open the speaker for one sound. Call `drain()` to let it finish; leaving the block without
        it (an interrupt, an error) stops the sound at once."""
        fmt = (self.rate, self.width, self.channels)
        if self.wav is not None:
            path = self._next_wav()
            path.parent.mkdir(parents=True, exist_ok=True)
            with wave.open(str(path), "wb") as wav:
                wav.setframerate(self.rate)
                wav.setsampwidth(self.width)
                wav.setnchannels(self.channels)
                yield _WavPlayback(wav, *fmt)
            self.files.append(path)
            return
        process: Process | None = None
        if self.command:
            try:
                process = await anyio.open_process(shlex.split(self.command), stdout=None, stderr=None)
            except OSError as err:
                _LOGGER.error("snd command '%s' cannot start: %s", self.command, err.strerror or err)
        try:
            yield _CommandPlayback(process, *fmt)
        finally:
            if process is not None:
                with anyio.CancelScope(shield=True):
                    await _stop(process)


async def _drain(process: Process, timeout: float) -> None:
    """Close stdin and wait for the player to play what it has; a player that hangs is stopped."""
    if process.stdin is not None:
        try:
            await process.stdin.aclose()
        except OSError:
            pass
    with anyio.move_on_after(timeout):
        await process.wait()
    if process.returncode is None:
        _LOGGER.warning("snd command did not finish playing in time; stopping it")


async def _stop(process: Process) -> None:
    """Silence now: a player still running (interrupted, or hanging) is killed."""
    if process.returncode is None:
        process.kill()
        await process.wait()
    await process.aclose()
