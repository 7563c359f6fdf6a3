"""Settings of the room device."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from wyoming_xnai.settings.fields import AtLeastOne, Seconds, SecondsOrZero, timeout
from wyoming_xnai.settings.server import ServerSettings


class SatelliteSettings(ServerSettings):
    """What `xnai satellite` (`xnai-satellite`) reads: microphone, speaker, services, wake word, turn timing and
    sounds. Its Home Assistant mode is a Wyoming server, so it reads what every server reads too."""

    prefix = "satellite"

    satellite_name: str | None = Field(None, description="This room device's name (default: the host name)")
    satellite_area: str | None = Field(None, description="Room the satellite is in (shown by Home Assistant)")
    satellite_conversation_idle: Seconds = Field(
        300.0, description="Seconds without a turn after which the next one starts a new conversation"
    )
    satellite_mic_command: str | None = Field(
        None, description="Command whose stdout is raw mic PCM, e.g. 'arecord -r 16000 -c 1 -f S16_LE -t raw'"
    )
    satellite_mic_wav: Path | None = Field(None, description="Read the microphone from this WAV file (tests, demos)")
    satellite_mic_rate: int = Field(16000, gt=0, description="Sample rate of the mic command's output")
    satellite_mic_width: AtLeastOne = Field(2, le=4, description="Bytes per sample of the mic command's output")
    satellite_mic_channels: AtLeastOne = Field(1, description="Channels of the mic command's output")
    satellite_snd_command: str | None = Field(
        None, description="Command that plays raw PCM from stdin, e.g. 'aplay -r 22050 -c 1 -f S16_LE -t raw'"
    )
    satellite_snd_wav: Path | None = Field(
        None, description="Write what would be played to this WAV (a folder: one numbered WAV per answer)"
    )
    satellite_snd_rate: int = Field(22050, gt=0, description="Sample rate the snd command expects")
    satellite_snd_width: AtLeastOne = Field(2, le=4, description="Bytes per sample the snd command expects")
    satellite_snd_channels: AtLeastOne = Field(1, description="Channels the snd command expects")
    satellite_asr_uri: list[str] = Field(
        default_factory=list, description="ASR service(s) to use (repeatable); without any, found by zeroconf"
    )
    satellite_handle_uri: list[str] = Field(
        default_factory=list, description="Handle service(s) to use (repeatable); without any, found by zeroconf"
    )
    satellite_tts_uri: list[str] = Field(
        default_factory=list, description="TTS service(s) to use (repeatable); without any, found by zeroconf"
    )
    satellite_discover: bool = Field(True, description="Browse zeroconf for services not given by URI")
    satellite_discover_interface: str | None = Field(
        None, description="Interface address to browse zeroconf on (default: all)"
    )
    satellite_discover_names: list[str] = Field(
        default_factory=list, description="Only use discovered services whose zeroconf name starts with one of these"
    )
    satellite_health_interval: Seconds = Field(5.0, description="Seconds between health checks (describe)")
    satellite_timeout: Seconds = timeout(15.0, "any one service", "to answer")
    satellite_language: str | None = Field(
        "en", description="Language sent to ASR and handle (a short command is too short to detect it reliably)"
    )
    satellite_voice: str | None = Field(None, description="TTS voice name (default: the server's default)")
    satellite_wake_word: list[str] = Field(
        default_factory=lambda: ["okay_nabu"],
        description="Wake word(s) heard on the device: built-in ids (okay_nabu, hey_jarvis, alexa, hey_mycroft) "
        "or microWakeWord .json paths; 'none' answers every utterance",
    )
    satellite_stop_word: list[str] = Field(
        default_factory=list, description="Extra word model(s) that stop an answer or alarm (the wake word always does)"
    )
    satellite_wake_preroll: SecondsOrZero = Field(
        0.3, le=2, description="Seconds of audio from before the wake word fired that go to ASR (the first words)"
    )
    satellite_wake_listen: Seconds = Field(
        5.0, description="Seconds to wait for speech after the wake word before going back to sleep"
    )
    satellite_follow_up: SecondsOrZero = Field(
        5.0, description="Seconds after an answer in which speech is taken without the wake word (0 = off)"
    )
    satellite_wake_phrase: str | None = Field(
        None, description="Without a wake word: only answer utterances that start with this phrase (e.g. 'computer')"
    )
    satellite_vad_threshold: float = Field(0.5, gt=0, lt=1, description="Silero speech probability threshold")
    satellite_min_speech: SecondsOrZero = Field(0.15, description="Seconds of speech that start an utterance")
    satellite_end_silence: Seconds = Field(0.45, description="Seconds of silence that end an utterance")
    satellite_speculate: SecondsOrZero | None = Field(
        0.2,
        description="Prepare the answer after this much silence; play it only at --end-silence (0 = off)",
    )
    satellite_max_utterance: Seconds = Field(15.0, description="Longest utterance, in seconds")
    satellite_preroll: SecondsOrZero = Field(0.5, description="Seconds of audio kept from before speech started")
    satellite_refractory: SecondsOrZero = Field(
        0.5, description="Seconds the mic is ignored after playback, so it does not wake on its own voice"
    )
    satellite_awake_command: str | None = Field(None, description="Command run when speech starts (a beep)")
    satellite_done_command: str | None = Field(None, description="Command run when the utterance has ended")
    satellite_played_command: str | None = Field(None, description="Command run after the answer was played")
    satellite_sounds: bool = Field(True, description="Play the awake and done sounds")
    satellite_awake_wav: Path | None = Field(None, description="WAV played when listening starts (default: bundled)")
    satellite_done_wav: Path | None = Field(
        None, description="WAV played when the utterance has ended (default: bundled)"
    )
    satellite_alarm_wav: Path | None = Field(None, description="WAV repeated while a timer rings (default: bundled)")
    satellite_timer_ring: Seconds = Field(
        300.0, description="Longest a finished timer rings unless stopped by the wake or stop word (seconds)"
    )
    satellite_once: bool = Field(False, description="Answer one utterance, then exit (tests, demos)")
    satellite_ha: bool = Field(False, description="Be a Wyoming satellite server that Home Assistant drives")
    satellite_uri: str = Field("tcp://0.0.0.0:10700", description="Where the Home Assistant satellite server listens")
