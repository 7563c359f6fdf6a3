"""Piper voices: what is installed (read from the small .onnx.json, no model load), loading them with
a thread cap, synthesizing one piece, and a degraded espeak-ng voice when Piper cannot answer.

Everything here blocks; the server calls it from worker threads.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from wyoming_xnai.errors import ModelMissingError
from wyoming_xnai.models import PiperVoiceRef, piper_voice, piper_voices
from wyoming_xnai.server.logs import private
from wyoming_xnai.server.memory import ArenaBounded
from wyoming_xnai.server.metrics import TTS_PIECES
from wyoming_xnai.settings import TtsSettings

_LOGGER = logging.getLogger(__name__)
WIDTH = 2  # 16-bit samples
CHANNELS = 1
ESPEAK_RATE = 22050  # espeak-ng's native output rate
MAX_LOADED = 3  # voices kept in memory at once (a medium voice is ~60 MB)
# The onnxruntime arena a Piper run needs grows with its phoneme ids (a pad after each phoneme, plus
# start and end: 2n + 3 ids for n phonemes). Runs up to this size share one arena that stays warm; a
# bigger run would grow it for good (a 300-character piece keeps ~330 MiB), so such runs hand the
# growth back when they end, and the next one pays for fresh memory (~30 % of its time).
PIPER_USUAL_IDS = 256
# So a sentence is spoken in runs that fit the warm arena: longer ones are cut after a clause mark, or
# else at a word. Piper pays nothing per extra run, and a comma-ended run keeps the comma's intonation.
MAX_RUN_PHONEMES = (PIPER_USUAL_IDS - 3) // 2
CLAUSE_MARKS = frozenset(",;:")
SPIN_MICROSECONDS = 300  # how long an idle onnxruntime worker spins before it sleeps


class UnknownVoice(Exception):
    """The client asked for a voice or speaker this server does not have."""


class UnknownSpeaker(UnknownVoice):
    """The voice exists but has no such speaker."""


class UnknownLanguage(UnknownVoice):
    """No installed voice speaks the language the client asked for."""


class SynthesisFailed(Exception):
    """Neither Piper nor the degraded voice could speak the text."""


@dataclass(frozen=True)
class VoiceInfo:
    """What describe says about a voice, read from its config without loading the model."""

    ref: PiperVoiceRef
    rate: int
    languages: list[str]
    speakers: dict[str, int]
    espeak_voice: str
    description: str

    @property
    def name(self) -> str:
        return self.ref.name

    def speaker_id(self, speaker: str | None) -> int | None:
        """A speaker name or number -> id; None means the voice's default speaker."""
        if speaker is None or speaker == "" or not self.speakers:
            return None  # single-speaker voices ignore the field, as Piper does
        if speaker in self.speakers:
            return self.speakers[speaker]
        if speaker.isdigit() and int(speaker) < max(len(self.speakers), max(self.speakers.values()) + 1):
            return int(speaker)
        raise UnknownSpeaker(
            f"voice '{self.name}' has no speaker '{speaker}' (speakers: {', '.join(list(self.speakers)[:20])})"
        )


def read_voice_info(ref: PiperVoiceRef) -> VoiceInfo:
    with open(ref.config, encoding="utf-8") as f:
        config = json.load(f)
    lang = config.get("language") or {}
    code = lang.get("code") or config.get("espeak", {}).get("voice") or ref.name.split("-")[0]
    espeak_voice = (config.get("espeak") or {}).get("voice") or code.replace("_", "-").lower()
    name_english = lang.get("name_english")
    quality = (config.get("audio") or {}).get("quality")
    description = " ".join(p for p in (ref.name, f"({name_english}, {quality})" if name_english else None) if p)
    return VoiceInfo(
        ref=ref,
        rate=int((config.get("audio") or {}).get("sample_rate", 22050)),
        languages=[code],
        speakers=dict(config.get("speaker_id_map") or {}),
        espeak_voice=espeak_voice,
        description=description,
    )


@dataclass
class Audio:
    """One synthesized piece: 16-bit mono PCM at `rate`; `source` is "piper" or "espeak"."""

    pcm: bytes
    rate: int
    source: str


@dataclass
class Options:
    """Synthesis knobs from the settings (None = the voice's own value)."""

    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w_scale: float | None = None


@dataclass
class _Loaded:
    voice: object | None  # piper.PiperVoice, or None if it failed to load
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class VoiceBank:
    """The installed voices and the ones loaded into memory (a few, least recently used evicted)."""

    def __init__(self, settings: TtsSettings) -> None:
        self.settings = settings
        for folder in settings.tts_voice_dir:
            if not folder.expanduser().is_dir():
                raise ModelMissingError(f"voice dir not found: {folder}")
        default_ref = piper_voice(settings.tts_voice, settings.tts_voice_dir)  # ModelMissingError if absent
        refs = [default_ref] + [r for r in piper_voices(settings.tts_voice_dir) if r.name != default_ref.name]
        self.voices: dict[str, VoiceInfo] = {}
        for ref in refs:
            try:
                self.voices[ref.name] = read_voice_info(ref)
            except (OSError, ValueError) as err:
                _LOGGER.warning("skipping voice %s: unreadable config %s (%s)", ref.name, ref.config, err)
        if default_ref.name not in self.voices:
            raise ModelMissingError(f"Piper voice config {default_ref.config} is not valid JSON")
        self.default = default_ref.name
        self.options = Options(settings.tts_length_scale, settings.tts_noise_scale, settings.tts_noise_w_scale)
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self.espeak = shutil.which("espeak-ng") or shutil.which("espeak")

    def voice(self, name: str | None) -> VoiceInfo:
        if not name:
            return self.voices[self.default]
        try:
            return self.voices[name]
        except KeyError:
            raise UnknownVoice(f"unknown voice '{name}' (installed: {', '.join(self.voices)})") from None

    def for_language(self, language: str) -> VoiceInfo:
        """The default voice if it speaks `language` ("en", "en-US", "en_US"), else the first that does."""
        wanted = language.replace("-", "_").lower()
        for exact in (True, False):
            for info in self.voices.values():  # the default voice comes first
                for code in info.languages:
                    code = code.lower()
                    if code == wanted if exact else code.split("_")[0] == wanted.split("_")[0]:
                        return info
        raise UnknownLanguage(f"no voice for language '{language}' (installed: {', '.join(self.voices)})")

    def load(self, name: str) -> _Loaded:
        """The loaded voice (loading it now if needed); a failed load is remembered, not retried."""
        with self._lock:
            entry = self._loaded.get(name)
            if entry is not None:
                self._loaded.move_to_end(name)
                return entry
            entry = _Loaded(None)
            entry.lock.acquire()  # others asking for this voice wait for this load, not a second one
            self._loaded[name] = entry
            for old in [n for n in self._loaded if n != self.default][: max(0, len(self._loaded) - MAX_LOADED)]:
                del self._loaded[old]  # least recently used first; the default voice stays loaded
        try:
            entry.voice = self._load_piper(self.voices[name])
            _LOGGER.info("tts: loaded voice %s", name)
        except Exception as err:  # a corrupt or incompatible model file: degrade, don't die
            entry.error = f"{type(err).__name__}: {err}"
            _LOGGER.error("tts: voice %s failed to load (%s); using the degraded voice", name, entry.error)
        finally:
            entry.lock.release()
        return entry

    def _load_piper(self, info: VoiceInfo):
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        with open(info.ref.config, encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        if self.settings.tts_cpu_threads:
            options.intra_op_num_threads = self.settings.tts_cpu_threads
            options.inter_op_num_threads = 1
        # Worker threads wait for the next op spinning, but only across the gaps inside a run. A 20 us
        # spin sleeps in most of them and pays a wake-up per parallel op (~10 % of a sentence on 2 cores);
        # 300 us is as fast as onnxruntime's own spinning, which goes on for tens of ms after the run
        # ends and takes that core from the LLM writing the rest of the answer (bench.tts, bench.e2e).
        options.add_session_config_entry("session.intra_op.spin_duration_us", str(SPIN_MICROSECONDS))
        session = onnxruntime.InferenceSession(
            str(info.ref.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        voice = PiperVoice(session=ArenaBounded(session, PIPER_USUAL_IDS), config=config)
        sentences = voice.phonemize
        voice.phonemize = lambda text: [  # type: ignore[method-assign]
            part for phonemes in sentences(text) for part in split_phonemes(phonemes, MAX_RUN_PHONEMES)
        ]
        return voice

    def synthesize(self, info: VoiceInfo, text: str, speaker_id: int | None) -> Audio:
        """Speak one piece with Piper, or with the degraded voice if Piper fails."""
        entry = self.load(info.name)
        with entry.lock:  # waits for a load in progress (ONNX sessions may run from several threads)
            voice = entry.voice
        if voice is not None:
            try:
                return Audio(self._piper(voice, text, speaker_id), info.rate, "piper")
            except Exception as err:
                _LOGGER.error(
                    "tts: Piper failed on %r (%s: %s); using the degraded voice", private(text), type(err).__name__, err
                )
        return self.degraded(info, text)

    def _piper(self, voice, text: str, speaker_id: int | None) -> bytes:
        from piper import SynthesisConfig

        config = SynthesisConfig(
            speaker_id=speaker_id,
            length_scale=self.options.length_scale,
            noise_scale=self.options.noise_scale,
            noise_w_scale=self.options.noise_w_scale,
        )
        parts = [chunk.audio_int16_bytes for chunk in voice.synthesize(text, config)]
        pcm = b"".join(parts)
        if not pcm:
            raise SynthesisFailed("Piper produced no audio")
        TTS_PIECES.labels("piper").inc()
        return pcm

    def degraded(self, info: VoiceInfo, text: str) -> Audio:
        """espeak-ng, resampled to the voice's rate so a stream keeps one audio format."""
        if self.espeak is None:
            raise SynthesisFailed("the Piper voice failed and espeak-ng (the degraded voice) is not installed")
        try:
            proc = subprocess.run(
                [self.espeak, "--stdout", "-v", info.espeak_voice, "-s", "165"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=30,
                check=True,
            )
            if proc.stdout[:4] != b"RIFF":  # unknown espeak voice name: retry with English
                raise subprocess.CalledProcessError(1, "espeak-ng")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            try:
                proc = subprocess.run(
                    [self.espeak, "--stdout", "-s", "165"], input=text.encode("utf-8"),
                    capture_output=True, timeout=30, check=True,
                )  # fmt: skip
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
                raise SynthesisFailed(f"the Piper voice failed and espeak-ng failed too: {err}") from None
        with wave.open(io.BytesIO(proc.stdout)) as wav:
            rate = wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
        TTS_PIECES.labels("espeak").inc()
        return Audio(resample(pcm, rate, info.rate), info.rate, "espeak")


def split_phonemes(phonemes: list[str], limit: int) -> list[list[str]]:
    """One sentence's phonemes in runs of at most `limit`, cut in the second half of each run: after a
    clause mark when there is one (the run keeps the mark and its intonation), else at a word."""
    parts = []
    while len(phonemes) > limit:
        window = range(limit - 1, limit // 2, -1)
        cut = next((i + 1 for i in window if phonemes[i] in CLAUSE_MARKS and phonemes[i + 1] == " "), None)
        if cut is None:
            cut = next((i for i in window if phonemes[i] == " "), limit)
        parts.append(phonemes[:cut])
        phonemes = phonemes[cut + 1 :] if phonemes[cut] == " " else phonemes[cut:]
    return [*parts, phonemes]


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    """Linear-interpolation resampling of 16-bit mono PCM: good enough for the degraded voice."""
    if src == dst or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    n_out = int(len(samples) * dst / src)
    positions = np.linspace(0, len(samples) - 1, n_out)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.int16).tobytes()


def silence(seconds: float, rate: int) -> bytes:
    return bytes(int(seconds * rate) * WIDTH * CHANNELS)
