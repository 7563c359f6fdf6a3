"""Feedback on wake, end of speech and after the answer: short shell commands and/or WAV sounds."""

from __future__ import annotations

import logging
import shlex
import wave
from pathlib import Path

import anyio
from wyoming.audio import AudioChunk

from satellite.audio import Speaker
from satellite.sounds import Sound, bundled
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)
COMMAND_TIMEOUT = 10.0


async def run_command(command: str | None, what: str) -> None:
    """Run a feedback command; a broken one is logged, never fatal, and never hangs the satellite."""
    if not command:
        return
    try:
        with anyio.fail_after(COMMAND_TIMEOUT):
            result = await anyio.run_process(shlex.split(command), check=False)
        if result.returncode != 0:
            _LOGGER.warning("%s command '%s' exited with %s", what, command, result.returncode)
    except TimeoutError:
        _LOGGER.warning("%s command '%s' took longer than %.0f s; stopped", what, command, COMMAND_TIMEOUT)
    except OSError as err:
        _LOGGER.warning("%s command '%s' cannot run: %s", what, command, err.strerror or err)


async def play_wav(speaker: Speaker, path: Path | None) -> None:
    """Play a short WAV through the speaker (no-op when unset or no speaker)."""
    if path is None or not speaker.enabled:
        return
    try:
        with wave.open(str(path), "rb") as wav:
            chunk = AudioChunk(
                rate=wav.getframerate(),
                width=wav.getsampwidth(),
                channels=wav.getnchannels(),
                audio=wav.readframes(wav.getnframes()),
            )
    except (OSError, wave.Error, EOFError) as err:
        _LOGGER.warning("cannot read feedback sound %s: %s", path, err)
        return
    async with speaker.play() as playback:
        await playback.write(chunk)
        await playback.drain()


def sound(settings: SatelliteSettings, which: Sound) -> Path | None:
    """The WAV for a sound: the one given by flag, else the bundled one. --no-sounds silences the
    awake and done sounds; a timer's alarm always rings."""
    if not settings.satellite_sounds and which != "alarm":
        return None
    given = {
        "awake": settings.satellite_awake_wav,
        "done": settings.satellite_done_wav,
        "alarm": settings.satellite_alarm_wav,
    }[which]
    return given or bundled(which)


async def feedback(speaker: Speaker, command: str | None, wav: Path | None, what: str) -> None:
    await run_command(command, what)
    await play_wav(speaker, wav)


async def awake(settings: SatelliteSettings, speaker: Speaker) -> None:
    """Listening now (the wake word was heard, or an answer asked something back)."""
    await feedback(speaker, settings.satellite_awake_command, sound(settings, "awake"), "awake")


async def done(settings: SatelliteSettings, speaker: Speaker) -> None:
    """The utterance has ended."""
    await feedback(speaker, settings.satellite_done_command, sound(settings, "done"), "done")


async def played(settings: SatelliteSettings, speaker: Speaker) -> None:
    """The answer has been played."""
    await run_command(settings.satellite_played_command, "played")
