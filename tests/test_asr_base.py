"""The multilingual Whisper base, through real sockets: languages, the household's words, no words from noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ServerProcess, describe_sync, noise, silence, speech, transcribe, transcript_text, words
from wyoming_xnai.vocabulary import document_terms_file, write_terms

pytestmark = pytest.mark.anyio
PHRASE = "turn on the kitchen lights"


def espeak_speech(text: str, voice: str) -> bytes:
    """16 kHz mono PCM of `text` in an espeak-ng voice of another language."""
    import subprocess

    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "120", "--stdout", text], capture_output=True, check=True)
    raw = ["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw"]
    return subprocess.run(
        ["sox", "-t", "wav", "-", *raw, "-"], input=wav.stdout, capture_output=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("asr-base-data")


@pytest.fixture(scope="module")
def base(module_servers, whisper_models_dir: Path, data_dir: Path) -> ServerProcess:
    """The default configuration (base, beam 5), with the documents' words on."""
    return module_servers(
        "asr", "--model", "base", "--beam-size", "5", "--document-vocabulary",
        "--models-dir", str(whisper_models_dir), "--data-dir", str(data_dir),
    )  # fmt: skip


def test_describe_lists_the_languages_of_the_model(base: ServerProcess) -> None:
    model = describe_sync(base.port, timeout=10).asr[0].models[0]
    assert model.name == "base"
    assert {"en", "de", "fr", "es", "it", "nl", "pl", "ja"} <= set(model.languages) and len(model.languages) >= 99


@pytest.mark.parametrize(
    ("language", "voice", "text", "key_words"),
    [
        ("de-DE", "de", "Ich möchte einen Kaffee.", {"ich", "kaffee"}),  # on a window under 8 s: "Ich muss"
        ("fr-FR", "fr", "Je voudrais un café, s'il vous plaît.", {"voudrais", "café"}),
        ("es-ES", "es", "¿Dónde está la estación?", {"está", "estación"}),
    ],
)
async def test_other_languages_as_home_assistant_asks_for_them(
    base: ServerProcess, language: str, voice: str, text: str, key_words: set[str]
) -> None:
    events = await transcribe(base.uri, espeak_speech(text, voice), language=language)
    assert key_words <= words(transcript_text(events))
    transcript = next(e for e in events if e.type == "transcript")
    assert transcript.data["language"] == voice == transcript.data["context"]["asr"]["language"]


async def test_language_detected_when_none_is_asked_for(base: ServerProcess) -> None:
    """Whisper detects it on its full 30 s window (slower than a cut window, and less sure on short clips)."""
    events = await transcribe(base.uri, espeak_speech("¿Dónde está la estación?", "es"))
    assert events[-1].type == "transcript-stop", events[-1]
    transcript = next(e for e in events if e.type == "transcript")
    assert transcript.data["language"] == "es" and {"está", "estación"} <= words(transcript.data["text"])


@pytest.mark.parametrize("kind", ["digital-silence", "hum", "pink-noise"])
async def test_no_words_from_silence_or_noise(base: ServerProcess, kind: str) -> None:
    events = await transcribe(base.uri, noise(kind), language="en")
    assert transcript_text(events) == ""


async def test_the_documents_words_are_heard_after_an_ingest(base: ServerProcess, data_dir: Path) -> None:
    """The words file `xnai ingest` writes is picked up by the running server: a name comes out spelt right,
    and words that sound like no hinted word stay as they were heard without the hint."""
    name, other = speech("Call Doctor Achterberg tomorrow") + silence(0.3), speech(PHRASE) + silence(0.3)
    assert "achterberg" not in words(transcript_text(await transcribe(base.uri, name, language="en")))
    before = transcript_text(await transcribe(base.uri, other, language="en"))
    write_terms(document_terms_file(data_dir), ["Venkataraman", "Achterberg", "dehumidifier", "Szymanska", "Rosalind"])
    assert {"achterberg", "tomorrow"} <= words(
        transcript_text(await transcribe(base.uri, name, language="en"))
    )
    assert transcript_text(await transcribe(base.uri, other, language="en")) == before
