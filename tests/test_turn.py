"""When a speaker's turn is over: the word rules on texts, and the turn logic on real speech and the
real VAD, in-process (the real-server behaviour is in tests/test_asr.py)."""

from __future__ import annotations

import pytest

from tests.support import silence, speech
from wyoming_xnai.asr.complete import is_complete
from wyoming_xnai.asr.transcriber import Heard, NoLongerWanted, Transcriber
from wyoming_xnai.asr.turn import Utterance
from wyoming_xnai.models import whisper_model
from wyoming_xnai.settings import AsrSettings


@pytest.mark.parametrize(
    "text",
    [
        "Turn on the kitchen lights.",
        "What time is it?",
        "Set a timer for ten minutes.",
        "Where are we?",
        "Do you know where my keys are?",
        "Turn it off.",
        "Lock the front door, please.",
        "What should I do?",
        "Can you help?",
        "I think so.",
        "Stop!",
        "Is the oven still on?",
        "Read me the shopping list. Thanks.",
        '"Good night."',
    ],
)
def test_complete_sentences(text: str) -> None:
    assert is_complete(text, "en")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Set an alarm for",  # Whisper leaves a sentence it did not hear end without punctuation
        "Set an alarm for.",  # ... or not: a preposition with nothing after it
        "What's the weather like in?",
        "Remind me to call the.",
        "Play something by?",
        "Turn off the lights and.",
        "and then.",
        "Is it going to rain tomorrow, or",
        "Add milk, eggs,",
        "Switch on the...",
        "Switch on the…",
        "Call Dr.",
        "Where is?",
        "Why don't?",
        "What does the oven?",  # do + a subject and no verb yet
        "Could you?",
        "Tell me when we.",
        "It's very.",
        "Whose?",
        "I'll.",
        "Turn on the light. And",
        "Email my.",
    ],
)
def test_unfinished_sentences(text: str) -> None:
    assert not is_complete(text, "en")


def test_only_english_has_word_rules_and_an_unsure_decode_is_never_complete() -> None:
    assert not is_complete("Mach das Licht an.", "de")
    assert not is_complete("Turn on the lights.", None)
    assert is_complete("Turn on the lights.", "en", avg_logprob=-0.3)
    assert not is_complete("Turn on the lights.", "en", avg_logprob=-1.4)


def settings(**overrides: float) -> AsrSettings:
    return AsrSettings(**{"asr_vad_endpointing": 1.2, "asr_vad_complete_silence": 0.7, "asr_early_decode": 0.25,
                       **overrides})  # fmt: skip


def feed(utterance: Utterance, pcm: bytes, chunk: int = 320) -> tuple[str | None, int]:
    """Feeds 10 ms chunks, as Home Assistant sends them; returns the first end reason and where it came."""
    for i in range(0, len(pcm), chunk):
        reason = utterance.add(pcm[i : i + chunk])
        if reason is not None:
            return reason, i + chunk
    return None, len(pcm)


@pytest.mark.anyio  # an early decode carries a cancel scope: made inside an event loop
async def test_early_decode_is_due_once_per_pause_and_stale_once_speech_resumes() -> None:
    utterance = Utterance(settings(), "default")
    assert feed(utterance, speech("turn on the kitchen lights") + silence(0.3))[0] is None
    assert utterance.early_due()
    early = utterance.start_early()
    assert not utterance.early_due() and utterance.current_early() is early
    feed(utterance, silence(0.1))
    assert utterance.current_early() is early  # silence after it: still all that was said
    feed(utterance, speech("in the hall") + silence(0.3))
    assert utterance.current_early() is None and utterance.early_due()
    assert not utterance.wants(early)  # the transcriber asks this between its steps, and stops
    utterance.drop_stale_early()
    assert early.scope.cancel_called  # still waiting for the model: it gives up its place in line


def test_a_decode_nobody_wants_any_more_stops_between_its_steps() -> None:
    transcriber = Transcriber(whisper_model("tiny.en"), AsrSettings(asr_model="tiny.en", asr_beam_size=1))
    transcriber.load()
    pcm = speech("turn on the kitchen lights")
    with pytest.raises(NoLongerWanted):
        transcriber.transcribe(pcm, "en", lambda text: None, wanted=lambda: False)
    assert "kitchen" in transcriber.transcribe(pcm, "en", lambda text: None).text.lower()


@pytest.mark.anyio  # an early decode carries a cancel scope: made inside an event loop
async def test_complete_words_end_the_turn_after_the_short_pause() -> None:
    utterance = Utterance(settings(), "default")
    feed(utterance, speech("turn on the kitchen lights") + silence(0.3))
    utterance.start_early().heard = Heard("Turn on the kitchen lights.", "en", -0.2)
    assert feed(utterance, silence(2.0))[0] == "complete"
    assert 0.7 <= utterance.vad.silence < 0.75


@pytest.mark.anyio  # an early decode carries a cancel scope: made inside an event loop
async def test_unfinished_words_wait_for_the_longest_pause() -> None:
    utterance = Utterance(settings(), "default")
    feed(utterance, speech("set a timer for") + silence(0.3))
    utterance.start_early().heard = Heard("Set a timer for", "en", -0.2)
    assert feed(utterance, silence(2.0))[0] == "endpoint"
    assert utterance.vad.silence >= 1.2


@pytest.mark.anyio  # an early decode carries a cancel scope: made inside an event loop
async def test_without_endpointing_only_the_client_ends_the_turn() -> None:
    utterance = Utterance(settings(asr_vad_endpointing=0), "default")
    feed(utterance, speech("turn on the kitchen lights") + silence(0.3))
    utterance.start_early().heard = Heard("Turn on the kitchen lights.", "en", -0.2)
    assert feed(utterance, silence(3.0))[0] is None
    assert utterance.current_early() is not None  # the early decode still serves the audio-stop


@pytest.mark.anyio  # an early decode carries a cancel scope: made inside an event loop
async def test_a_relaxed_speaker_gets_longer_pauses() -> None:
    utterance = Utterance(settings(), "relaxed")
    feed(utterance, speech("turn on the kitchen lights") + silence(0.3))
    utterance.start_early().heard = Heard("Turn on the kitchen lights.", "en", -0.2)
    assert feed(utterance, silence(2.0))[0] == "complete"
    assert 1.05 <= utterance.vad.silence < 1.1  # 1.5 x 0.7 s


@pytest.mark.anyio  # an early decode carries a cancel scope: made inside an event loop
async def test_complete_words_are_known_before_the_short_pause_is_over() -> None:
    """What the ASR offers handle to prepare (--prepare-uri): complete words that are still all that was said,
    before the turn ends on them."""
    utterance = Utterance(settings(), "default")
    feed(utterance, speech("turn on the kitchen lights") + silence(0.3))
    utterance.start_early().heard = Heard("Turn on the kitchen lights.", "en", -0.2)
    assert utterance.reads_complete() and not utterance.finished()
    feed(utterance, speech("in the hall") + silence(0.1))
    assert not utterance.reads_complete()  # the speaker went on: that decode is not the question any more
    unfinished = Utterance(settings(), "default")
    feed(unfinished, speech("set a timer for") + silence(0.3))
    unfinished.start_early().heard = Heard("Set a timer for", "en", -0.2)
    assert not unfinished.reads_complete()
