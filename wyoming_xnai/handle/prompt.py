"""Prompts for a small *base* model, and the sentence stream its answers are cut into.

Gemma 3 270M is not instruction-tuned: it continues text. So the prompt is a plain document with one
worked example ("Notes / Question / Answer") that it imitates, and generation stops at the end of the
line. It is also weak: given a long context it copies the wrong sentence or invents numbers. So it is
shown only the one note that answers (`evidence.support`), and what it writes is checked against that
note (`grounding`). A chat-style prompt for an instruction-tuned model can replace `rag_prompt` and
`plain_prompt`; the checks stay the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wyoming_xnai.handle.notes import Note
from wyoming_xnai.text.clauses import starts_phrase
from wyoming_xnai.text.cleaning import one_line_for_speech
from wyoming_xnai.text.sentences import SentenceStream
from wyoming_xnai.text.words import content_words

STOP = ["\n", "Question:", "Notes:", "Answer:"]
JOIN_AFTER = 5  # words a first sentence has before it may be cut at a joining word ("and", "when", ...)

INSTRUCTION = "Answer each question in one short sentence, using only the notes.\n\n"
EXAMPLE = (
    "Notes:\nThe shed key hangs on the hook by the back door. The lawn mower is kept in the shed.\n\n"
    "Question: Where is the lawn mower?\nAnswer: It is kept in the shed.\n\n"
)
# The start of every RAG prompt: evaluated once at load, then reused from llama.cpp's KV cache.
RAG_PREFIX = f"{INSTRUCTION}{EXAMPLE}Notes:\n"
PLAIN_EXAMPLE = "Question: What is the capital of France?\nAnswer: The capital of France is Paris.\n\n"
# What an answer must not copy when its question is about something else (see grounding.recites_prompt).
EXAMPLE_TEXTS = (INSTRUCTION, EXAMPLE, PLAIN_EXAMPLE)

_FOLLOW_UP = re.compile(r"\b(it|its|they|them|their|theirs|that|those|these|there|he|him|his|she|her|hers)\b", re.I)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    """A question that leans on the previous turn ("what is their number?") is searched together with it."""
    if not history:
        return False
    return bool(_FOLLOW_UP.search(question)) or len(content_words(question)) <= 1 or question.lower().startswith("and ")


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    if is_follow_up(question, history):
        return f"{history[-1].question} {question}"
    return question


def _history_text(history: Sequence[Turn]) -> str:
    return "".join(f"Question: {t.question}\nAnswer: {t.answer}\n\n" for t in history)


def rag_prompt(question: str, notes: Sequence[Note], history: Sequence[Turn]) -> str:
    """Fixed prefix first (llama.cpp reuses its KV cache across requests), the variable part last."""
    body = " ".join(one_line_for_speech(n.text) for n in notes)
    return f"{RAG_PREFIX}{body}\n\n{_history_text(history)}Question: {question.strip()}\nAnswer:"


def plain_prompt(question: str, history: Sequence[Turn]) -> str:
    """No notes: the same start as the RAG prompt, so answering without notes does not evict the RAG
    prefix from llama.cpp's KV cache (the next question with notes would read it all again)."""
    return f"{INSTRUCTION}{EXAMPLE}{PLAIN_EXAMPLE}{_history_text(history)}Question: {question.strip()}\nAnswer:"


def finish_sentence(text: str) -> str:
    text = one_line_for_speech(text)
    if text and text[-1] not in ".!?":
        text += "."
    return text


class SentenceSplitter:
    """Collects streamed text pieces and hands out whole, speakable sentences as soon as they end."""

    def __init__(self) -> None:
        self._stream = SentenceStream()

    def feed(self, piece: str) -> list[str]:
        return [p for p in (one_line_for_speech(p) for p in self._stream.feed(piece)) if p]

    def flush(self) -> str:
        return one_line_for_speech(self._stream.flush())

    @property
    def pending(self) -> str:
        """Text received that does not end a sentence yet."""
        return self._stream.pending

    def clause(self) -> str:
        """The start of the pending sentence that can be said on its own, or "" if there is none yet:
        up to its last comma or colon ("The cat is allergic to chicken,"), else, once it is JOIN_AFTER
        words long, up to a joining word or the start of a place phrase ("by", "under"), where it gets a
        comma ("The car needs 2.4 bar at the front," | "and 2.6 bar at the back.").

        Said before its sentence ends, it is the first words out a few tokens earlier. The cut is the
        shared clause rule (`text.clauses`), which TTS uses too, and a streaming TTS speaks a first
        piece that ends at a comma at once, without waiting for the rest of the sentence.
        """
        buffer = self.pending
        cut = max(buffer.rfind(", "), buffer.rfind(": "))
        if cut >= 0:
            head = one_line_for_speech(buffer[:cut])
            return f"{head}," if head else ""
        words = buffer.split()
        if buffer and not buffer[-1].isspace():
            words = words[:-1]  # the last word may still grow
        if len(words) > JOIN_AFTER and starts_phrase(words[-1]):
            head = one_line_for_speech(" ".join(words[:-1]))
            return f"{head}," if head else ""
        return ""


def remainder(sentence: str, head: str) -> str:
    """What `sentence` says after `head`, its first clause that was said already."""
    return " ".join(sentence.split()[len(head.split()) :])


def split_sentences(text: str) -> list[str]:
    splitter = SentenceSplitter()
    out = splitter.feed(text)
    if rest := splitter.flush():
        out.append(rest)
    return out
