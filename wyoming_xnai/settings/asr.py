"""Settings of the speech-to-text server."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from wyoming_xnai.settings.fields import AtLeastOne, Count, Seconds, SecondsOrZero, deadline, queue, slots, timeout
from wyoming_xnai.settings.server import ServerSettings


class AsrSettings(ServerSettings):
    """What `xnai asr` reads: its model, decoding, limits and endpointing, besides what every server reads."""

    prefix = "asr"

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
    asr_beam_size: AtLeastOne = Field(5, le=10, description="Beam size (1 = greedy, fastest)")
    asr_compute_type: str = Field("int8", description="CTranslate2 compute type (int8, int8_float32, float32)")
    asr_cpu_threads: Count = Field(
        1, description="CPU threads per transcription (0 = library default; on 2 cores 1 decodes faster than 2)"
    )
    asr_initial_prompt: str | None = Field(None, description="Text that primes the decoder (names, jargon)")
    asr_vocabulary: Path | None = Field(
        None, description="File of phrases to favour, one per line (e.g. Home Assistant entity and area names)"
    )
    asr_document_vocabulary: bool = Field(
        False, description="Favour the unusual words of the documents indexed with `xnai ingest` in the same data dir"
    )
    asr_vocabulary_tokens: Count = Field(
        40, le=200, description="Token budget of the vocabulary hint (0 = none; long hints make Whisper echo them)"
    )
    asr_window: SecondsOrZero = Field(
        5.0,
        le=30.0,
        description="Least seconds of encoder window for short utterances, which is otherwise fitted to the audio "
        "and --window-margin (30 = Whisper's full window; shorter is faster)",
    )
    asr_window_margin: float = Field(
        1.0, ge=0.5, le=10.0, description="Seconds of silence after the audio in a window fitted to it"
    )
    asr_max_concurrent: AtLeastOne = slots(1, "Transcriptions")
    asr_max_queue: Count = queue(16, "Utterances", "a transcription slot")
    asr_max_seconds: Seconds = Field(120.0, description="Longest utterance accepted, in seconds of audio")
    asr_timeout: Seconds = deadline(30.0, "the end of an utterance", "its transcript per 30 s of audio", "queue wait")
    asr_stream_timeout: Seconds = timeout(150.0, "one utterance's audio", "to arrive, first chunk to audio-stop")
    asr_vad_endpointing: SecondsOrZero = Field(
        1.2,
        description="Server-side endpointing: the longest pause that ends an utterance, the wait after unfinished "
        "words ('set a timer for'); 0 = off (the client's audio-stop ends it)",
    )
    asr_vad_complete_silence: SecondsOrZero = Field(
        0.7,
        description="With endpointing: the pause that ends an utterance whose words are a complete sentence "
        "(at most --vad-endpointing)",
    )
    asr_vad_no_speech_seconds: Seconds = Field(
        8.0, description="With endpointing: give up (empty transcript) if nobody speaks for this long"
    )
    asr_early_decode: SecondsOrZero = Field(
        0.15,
        description="Transcribe the speech so far after this pause, while the model is idle; the result is the "
        "transcript if nobody speaks again (0 = off)",
    )
    asr_prepare_uri: str | None = Field(
        None,
        description="Handle service to tell, during the pause, a question whose early decode reads as complete, so "
        "it prepares the answer before the transcript arrives (e.g. tcp://127.0.0.1:10600; `xnai serve` sets its own)",
    )
