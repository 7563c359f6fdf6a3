"""The one settings model shared by every service.

Every field is an environment variable (`XNAI_<FIELD>`, also read from `.env`) and a CLI flag.
Service-specific fields carry the service name as prefix (`asr_model` -> `XNAI_ASR_MODEL`);
the single-service subcommands expose them without it (`xnai asr --model`), `xnai serve` with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "xnai"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XNAI_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- common to every service -------------------------------------------------------------
    debug: bool = Field(False, description="Log DEBUG messages")
    log_format: Literal["text", "json"] = Field("text", description="Log line format")
    data_dir: Path = Field(default_factory=default_data_dir, description="Where indexes and assembled models live")
    models_dir: Path | None = Field(
        None, description="Where assembled bundled models live (default: DATA_DIR/models; containers bake them in)"
    )
    zeroconf: str | None = Field(
        None, description="Advertise over zeroconf (_wyoming._tcp.local.), optionally with this instance name"
    )
    zeroconf_host: str | None = Field(
        None, description="Address to advertise over zeroconf (default: the LAN address of this host)"
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Bind address of the /metrics and /healthz endpoint (0.0.0.0 opens it to the LAN)"
    )
    metrics_port: int | None = Field(None, description="Port of the /metrics and /healthz endpoint (off if unset)")
    metrics_max_connections: int = Field(
        8, ge=1, description="Open connections the metrics endpoint accepts; more are closed at once"
    )
    metrics_timeout: float = Field(5.0, gt=0, description="Seconds one metrics request may take, reading to writing")
    max_payload_bytes: int = Field(
        4 * MiB, description="Largest data block or payload one event may carry; bigger frames are refused"
    )
    max_connections: int = Field(
        64, ge=1, description="Open connections one service accepts; more get a busy error (bounds memory)"
    )
    max_connections_per_peer: int = Field(
        16, ge=1, description="Open connections one client address may hold on one service; more get a busy error"
    )
    idle_timeout: float = Field(
        60.0, gt=0, description="Seconds a connection may take to send its next request event before it is closed"
    )
    max_connection_seconds: float = Field(
        300.0, gt=0, description="Longest life of one ASR, TTS or handle connection (each carries one request)"
    )
    write_timeout: float = Field(
        30.0, gt=0, description="Seconds a client may leave what the server sends unread before it is dropped"
    )
    shutdown_grace: float = Field(
        5.0, ge=0, description="On SIGTERM, seconds in-flight requests get to finish before they end with an error"
    )
    log_text: bool = Field(
        False, description="Log what users said and were told (questions, transcripts, answers); --debug does too"
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint; traces stay in-process unless this is set"
    )

    # --- ASR ---------------------------------------------------------------------------------
    asr_uri: str = Field("tcp://0.0.0.0:10300", description="Where the ASR server listens")
    asr_model: str = Field(
        "base",
        description="Whisper model: bundled 'base' (multilingual) or 'tiny.en' (English), or a CTranslate2 model dir",
    )
    asr_language: str | None = Field(
        None,
        description="Language when the client does not ask for one: a Whisper code (en, de, fr...) or 'auto' "
        "(detect; the default for a multilingual model)",
    )
    asr_beam_size: int = Field(5, ge=1, le=10, description="Beam size (1 = greedy, fastest)")
    asr_compute_type: str = Field("int8", description="CTranslate2 compute type (int8, int8_float32, float32)")
    asr_cpu_threads: int = Field(2, ge=0, description="CPU threads per transcription (0 = library default)")
    asr_initial_prompt: str | None = Field(None, description="Text that primes the decoder (names, jargon)")
    asr_vocabulary: Path | None = Field(
        None, description="File of phrases to favour, one per line (e.g. Home Assistant entity and area names)"
    )
    asr_document_vocabulary: bool = Field(
        False, description="Favour the unusual words of the documents indexed with `xnai ingest` in the same data dir"
    )
    asr_vocabulary_tokens: int = Field(
        40, ge=0, le=200, description="Token budget of the vocabulary hint (0 = none; long hints make Whisper echo them)"
    )
    asr_window: float = Field(
        5.0,
        ge=0.0,
        le=30.0,
        description="Least seconds of encoder window for short utterances, which is otherwise fitted to the audio "
        "and --window-margin (30 = Whisper's full window; shorter is faster)",
    )
    asr_window_margin: float = Field(
        1.0, ge=0.5, le=10.0, description="Seconds of silence after the audio in a window fitted to it"
    )
    asr_max_concurrent: int = Field(1, ge=1, description="Transcriptions that may run at the same time")
    asr_max_queue: int = Field(16, ge=0, description="Utterances that may wait for a transcription slot")
    asr_max_seconds: float = Field(120.0, gt=0, description="Longest utterance accepted, in seconds of audio")
    asr_timeout: float = Field(
        30.0, gt=0, description="Seconds from the end of an utterance to its transcript (queue wait included)"
    )
    asr_stream_timeout: float = Field(
        150.0, gt=0, description="Seconds one utterance's audio may take to arrive, first chunk to audio-stop"
    )
    asr_vad_endpointing: float = Field(
        1.2,
        ge=0,
        description="Server-side endpointing: the longest pause that ends an utterance, the wait after unfinished "
        "words ('set a timer for'); 0 = off (the client's audio-stop ends it)",
    )
    asr_vad_complete_silence: float = Field(
        0.7,
        ge=0,
        description="With endpointing: the pause that ends an utterance whose words are a complete sentence "
        "(at most --vad-endpointing)",
    )
    asr_vad_no_speech_seconds: float = Field(
        8.0, gt=0, description="With endpointing: give up (empty transcript) if nobody speaks for this long"
    )
    asr_early_decode: float = Field(
        0.25,
        ge=0,
        description="Transcribe the speech so far after this pause, while the model is idle; the result is the "
        "transcript if nobody speaks again (0 = off)",
    )

    # --- TTS ---------------------------------------------------------------------------------
    tts_uri: str = Field("tcp://0.0.0.0:10200", description="Where the TTS server listens")
    tts_voice: str = Field("en_US-joe-medium", description="Default Piper voice name or .onnx path")
    tts_voice_dir: list[Path] = Field(
        default_factory=list, description="Folders with extra Piper voices (.onnx + .onnx.json)"
    )
    tts_speaker: str | None = Field(None, description="Default speaker name or id for multi-speaker voices")
    tts_length_scale: float | None = Field(None, gt=0, description="Speaking rate (bigger is slower)")
    tts_noise_scale: float | None = Field(None, ge=0, description="Generator noise")
    tts_noise_w_scale: float | None = Field(None, ge=0, description="Phoneme width noise")
    tts_sentence_silence: float = Field(0.2, ge=0, description="Seconds of silence between sentences")
    tts_clause_silence: float = Field(0.05, ge=0, description="Seconds of silence where a sentence was cut at a clause")
    tts_max_text_chars: int = Field(20_000, ge=1, description="Longest text accepted for one request")
    tts_max_concurrent: int = Field(1, ge=1, description="Syntheses that may run at the same time")
    tts_max_queue: int = Field(16, ge=0, description="Requests that may wait for a synthesis slot")
    tts_stream_timeout: float = Field(
        120.0, gt=0, description="Seconds a streamed text (synthesize-start to synthesize-stop) may take to arrive"
    )
    tts_cpu_threads: int = Field(
        0, ge=0, description="onnxruntime threads per synthesis (0 = library default: one per core, as Piper)"
    )

    # --- handle ------------------------------------------------------------------------------
    handle_uri: str = Field("tcp://0.0.0.0:10600", description="Where the handle server listens")
    handle_model: str = Field("gemma3-270m", description="GGUF model: bundled 'gemma3-270m' or a .gguf path")
    handle_prompt_style: Literal["auto", "completion", "chat"] = Field(
        "auto",
        description="How to prompt the LLM: its own chat template (instruction-tuned GGUFs), a plain completion "
        "prompt (base models), or auto: chat when the GGUF carries a template",
    )
    handle_embedder: Literal["onnx", "sentence-transformers"] = Field(
        "onnx", description="Embedding backend (sentence-transformers needs the extra)"
    )
    handle_threads: int = Field(2, ge=1, description="LLM threads")
    handle_threads_after_first: int = Field(
        1, ge=0, description="LLM threads once the first words are out, leaving a core to TTS (0 = no change)"
    )
    handle_context_size: int = Field(2048, ge=256, description="LLM context size in tokens")
    handle_max_tokens: int = Field(64, ge=1, description="Longest answer in tokens")
    handle_mlock: bool = Field(False, description="Lock the LLM in RAM")
    handle_f16_kv: bool = Field(True, description="Keep the KV cache in f16")
    handle_top_k: int = Field(4, ge=1, description="Passages retrieved per question")
    handle_embed_threads: int = Field(
        1, ge=0, description="onnxruntime threads per query embedding (0 = all cores; ingest uses all)"
    )
    handle_chunk_words: int = Field(80, ge=10, le=180, description="Ingest: words per passage (MiniLM reads ~180)")
    handle_chunk_overlap: int = Field(20, ge=0, description="Ingest: words repeated from the previous passage")
    handle_hnsw_threshold: int = Field(
        20_000, ge=1, description="Ingest: passages from which FAISS HNSW replaces exact search"
    )
    handle_llm_timeout: float = Field(20.0, gt=0, description="Seconds an LLM stage may take before falling back")
    handle_max_queue: int = Field(8, ge=0, description="Requests that may wait for the LLM")
    handle_max_text_chars: int = Field(2000, ge=1, description="Longest transcript accepted")
    handle_answer_timeout: float = Field(
        60.0, gt=0, description="Seconds from a question to its answer, the wait for the LLM included"
    )
    handle_retrieval_timeout: float = Field(5.0, gt=0, description="Seconds retrieval may take before falling back")
    handle_closest_note: bool = Field(
        False,
        description="When the notes do not answer, also say the closest note (marked as not the answer)",
    )
    handle_breaker_failures: int = Field(3, ge=1, description="Failures in a row that open a stage's circuit breaker")
    handle_breaker_reset: float = Field(30.0, gt=0, description="Seconds an open breaker waits before a retry")
    handle_memory_turns: int = Field(3, ge=0, description="Turns remembered per conversation_id")
    handle_memory_seconds: float = Field(300.0, gt=0, description="A conversation is forgotten after this idle time")
    handle_cache_size: int = Field(256, ge=0, description="Earlier answers kept for when the LLM is down")
    handle_cache_similarity: float = Field(
        0.9, ge=0, le=1, description="Cosine similarity from which an earlier question counts as the same"
    )

    # --- wake word (xnai wake) ----------------------------------------------------------------
    wake_uri: str = Field("tcp://0.0.0.0:10400", description="Where the wake-word server listens")
    wake_models: list[str] = Field(
        default_factory=list,
        description="Wake-word models offered: built-in ids or microWakeWord .json paths (default: all built in)",
    )
    wake_refractory: float = Field(
        2.0, ge=0, description="Seconds of audio after a detection before the same word counts again"
    )

    # --- satellite (xnai-satellite) ----------------------------------------------------------
    satellite_name: str | None = Field(None, description="This room device's name (default: the host name)")
    satellite_area: str | None = Field(None, description="Room the satellite is in (shown by Home Assistant)")
    satellite_conversation_idle: float = Field(
        300.0, gt=0, description="Seconds without a turn after which the next one starts a new conversation"
    )
    satellite_mic_command: str | None = Field(
        None, description="Command whose stdout is raw mic PCM, e.g. 'arecord -r 16000 -c 1 -f S16_LE -t raw'"
    )
    satellite_mic_wav: Path | None = Field(None, description="Read the microphone from this WAV file (tests, demos)")
    satellite_mic_rate: int = Field(16000, gt=0, description="Sample rate of the mic command's output")
    satellite_mic_width: int = Field(2, ge=1, le=4, description="Bytes per sample of the mic command's output")
    satellite_mic_channels: int = Field(1, ge=1, description="Channels of the mic command's output")
    satellite_snd_command: str | None = Field(
        None, description="Command that plays raw PCM from stdin, e.g. 'aplay -r 22050 -c 1 -f S16_LE -t raw'"
    )
    satellite_snd_wav: Path | None = Field(
        None, description="Write what would be played to this WAV (a folder: one numbered WAV per answer)"
    )
    satellite_snd_rate: int = Field(22050, gt=0, description="Sample rate the snd command expects")
    satellite_snd_width: int = Field(2, ge=1, le=4, description="Bytes per sample the snd command expects")
    satellite_snd_channels: int = Field(1, ge=1, description="Channels the snd command expects")
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
    satellite_health_interval: float = Field(5.0, gt=0, description="Seconds between health checks (describe)")
    satellite_timeout: float = Field(15.0, gt=0, description="Seconds any one service may take to answer")
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
    satellite_wake_preroll: float = Field(
        0.3, ge=0, le=2, description="Seconds of audio from before the wake word fired that go to ASR (the first words)"
    )
    satellite_wake_listen: float = Field(
        5.0, gt=0, description="Seconds to wait for speech after the wake word before going back to sleep"
    )
    satellite_follow_up: float = Field(
        5.0, ge=0, description="Seconds after an answer in which speech is taken without the wake word (0 = off)"
    )
    satellite_wake_phrase: str | None = Field(
        None, description="Without a wake word: only answer utterances that start with this phrase (e.g. 'computer')"
    )
    satellite_vad_threshold: float = Field(0.5, gt=0, lt=1, description="Silero speech probability threshold")
    satellite_min_speech: float = Field(0.15, ge=0, description="Seconds of speech that start an utterance")
    satellite_end_silence: float = Field(0.45, gt=0, description="Seconds of silence that end an utterance")
    satellite_speculate: float | None = Field(
        0.2,
        ge=0,
        description="Prepare the answer after this much silence; play it only at --end-silence (0 = off)",
    )
    satellite_max_utterance: float = Field(15.0, gt=0, description="Longest utterance, in seconds")
    satellite_preroll: float = Field(0.5, ge=0, description="Seconds of audio kept from before speech started")
    satellite_refractory: float = Field(
        0.5, ge=0, description="Seconds the mic is ignored after playback, so it does not wake on its own voice"
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
    satellite_timer_ring: float = Field(
        300.0, gt=0, description="Longest a finished timer rings unless stopped by the wake or stop word (seconds)"
    )
    satellite_once: bool = Field(False, description="Answer one utterance, then exit (tests, demos)")
    satellite_ha: bool = Field(False, description="Be a Wyoming satellite server that Home Assistant drives")
    satellite_uri: str = Field("tcp://0.0.0.0:10700", description="Where the Home Assistant satellite server listens")

    # --- all-in-one --------------------------------------------------------------------------
    serve_services: list[Literal["asr", "tts", "handle", "wake"]] = Field(
        default_factory=lambda: ["asr", "tts", "handle", "wake"], description="Services `xnai serve` runs"
    )

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @model_validator(mode="after")
    def _default_models_dir(self) -> Settings:
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        return self
