"""The transcript-based wake phrase (`--wake-phrase`): the fallback when no wake-word model is used."""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return [w.strip(".,!?;:'\"").lower() for w in text.split() if w.strip(".,!?;:'\"")]


def strip_wake_phrase(text: str, phrase: str) -> str | None:
    """The request after the wake phrase, or None when the utterance did not start with it."""
    want, words = _words(phrase), text.split()
    if _words(" ".join(words[: len(want)])) != want:
        return None
    return " ".join(words[len(want) :]).strip(" ,.")
