"""Prompts for a small *base* model, and the checks that keep its answers grounded and speakable.

Gemma 3 270M is not instruction-tuned: it continues text. So the prompt is a plain document with one
worked example ("Notes / Question / Answer") that it imitates, and generation stops at the end of the
line. It is also weak: given a long context it copies the wrong sentence or invents numbers. Hence:

- retrieval passages are cut into sentences (at ingest, which also embeds them) and only the few sentences
  most similar to the question go into the prompt (`rank_notes`): short prompt, little to confuse it,
  fast prefill;
- every sentence it produces is checked against those notes (`grounded`): a sentence whose new words or
  numbers are not in the notes is not spoken. If the first sentence already fails, the answer is the best
  note itself (the sentence most similar to the question), said plainly. That fallback is extractive and
  is what makes facts come out reliably; the LLM's job is to make it short and to follow the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wyoming_xnai.text.clauses import starts_phrase
from wyoming_xnai.text.cleaning import one_line_for_speech
from wyoming_xnai.text.sentences import SentenceStream

STOP = ["\n", "Question:", "Notes:", "Answer:"]
MAX_SENTENCES = 2
JOIN_AFTER = 5  # words a first sentence has before it may be cut at a joining word ("and", "when", ...)

INSTRUCTION = "Answer each question in one short sentence, using only the notes.\n\n"
EXAMPLE = (
    "Notes:\nThe shed key hangs on the hook by the back door. The lawn mower is kept in the shed.\n\n"
    "Question: Where is the lawn mower?\nAnswer: It is kept in the shed.\n\n"
)
# The start of every RAG prompt: evaluated once at load, then reused from llama.cpp's KV cache.
RAG_PREFIX = f"{INSTRUCTION}{EXAMPLE}Notes:\n"
PLAIN_EXAMPLE = "Question: What is the capital of France?\nAnswer: The capital of France is Paris.\n\n"

_STOPWORDS = set(
    """a an the is are was were be been being am do does did done of to in on at by for from with and or but
    if then so as it its it's this that these those there here what which who whom whose where when why how
    i me my we us our you your he him his she her they them their one ones not no yes can could would should
    will shall may might must have has had get gets got into onto about over under up down out off than too
    very just also only any some all each every both either neither such own same other called named please
    answer question notes note kept keep""".split()
)
_FOLLOW_UP = re.compile(r"\b(it|its|they|them|their|theirs|that|those|these|there|he|him|his|she|her|hers)\b", re.I)
_WORD = re.compile(r"\d+(?:[.,:/-]\d+)*|[a-zA-Z]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"\d")


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


@dataclass(frozen=True)
class Note:
    text: str
    source: str
    score: float  # for ordering
    similarity: float  # cosine similarity to the question


def _stem(word: str) -> str:
    word = word.lower().removesuffix("'s")
    for suffix in ("ions", "ion", "ing", "ly", "ed", "es", "s", "e"):
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in _STOPWORDS}


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    """A question that leans on the previous turn ("what is their number?") is searched together with it."""
    if not history:
        return False
    return bool(_FOLLOW_UP.search(question)) or len(content_words(question)) <= 1 or question.lower().startswith("and ")


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    if is_follow_up(question, history):
        return f"{history[-1].question} {question}"
    return question


def merge_notes(
    passages: Sequence[tuple[str, Sequence[str], np.ndarray]], dim: int
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """(sentence, source) for every note sentence of the passages, without the repeats chunk overlap makes,
    and their vectors. `passages` are (source, note sentences, their vectors), best passage first."""
    seen: set[str] = set()
    out = []
    rows = []
    for source, texts, vectors in passages:
        for sentence, vector in zip(texts, vectors, strict=True):
            key = sentence.lower()
            if key in seen:
                continue
            seen.add(key)
            out.append((sentence, source))
            rows.append(vector)
    return out, (np.stack(rows) if rows else np.zeros((0, dim), np.float32))


def rank_notes(
    query: str, query_vec: np.ndarray, candidates: Sequence[tuple[str, str]], vectors: np.ndarray
) -> list[Note]:
    """Best sentences first: cosine similarity plus a bonus for sharing the question's words."""
    qwords = content_words(query)
    notes = []
    for (text, source), vec in zip(candidates, vectors, strict=True):
        overlap = len(qwords & content_words(text)) / max(len(qwords), 1)
        similarity = float(vec @ query_vec)
        notes.append(Note(text, source, similarity + 0.3 * overlap, similarity))
    return sorted(notes, key=lambda n: -n.score)


def _history_text(history: Sequence[Turn]) -> str:
    return "".join(f"Question: {t.question}\nAnswer: {t.answer}\n\n" for t in history)


def rag_prompt(question: str, notes: Sequence[Note], history: Sequence[Turn]) -> str:
    """Fixed prefix first (llama.cpp reuses its KV cache across requests), the variable part last."""
    body = " ".join(speakable(n.text) for n in notes)
    return f"{RAG_PREFIX}{body}\n\n{_history_text(history)}Question: {question.strip()}\nAnswer:"


def plain_prompt(question: str, history: Sequence[Turn]) -> str:
    """No notes: the same start as the RAG prompt, so answering without notes does not evict the RAG
    prefix from llama.cpp's KV cache (the next question with notes would read it all again)."""
    return f"{INSTRUCTION}{EXAMPLE}{PLAIN_EXAMPLE}{_history_text(history)}Question: {question.strip()}\nAnswer:"


def grounded(sentence: str, question: str, notes: Sequence[Note]) -> bool:
    """Does the sentence say something, and only what the notes say?

    Its new content words (not in the question) must come from the notes (three in four at least, for
    rephrasing), every number in it must be in the notes, and it must add at least one word of the notes
    (repeating the question says nothing). Earlier answers do not count as evidence: a hallucination
    must not become a source for the next turn.
    """
    known = content_words(" ".join(n.text for n in notes))
    novel = content_words(sentence) - content_words(question)
    if not novel:
        return False
    numbers = {w for w in novel if _NUMBER.search(w)}
    if numbers - known:
        return False
    return len(novel & known) >= max(1, 0.75 * len(novel))


def cannot_be_grounded(partial: str, question: str, notes: Sequence[Note]) -> bool:
    """A sentence still being written already holds a whole number the notes do not have: it will fail
    `grounded` whatever follows, so the best note can be said now instead of after the sentence ends."""
    words = _WORD.findall(partial)
    if partial and not partial[-1].isspace():
        words = words[:-1]  # the last word may still grow ("2" -> "2.4")
    numbers = {_stem(w) for w in words if _NUMBER.search(w)} - content_words(question)
    return bool(numbers - content_words(" ".join(n.text for n in notes)))


# --- speakable text -------------------------------------------------------------------------------

speakable = one_line_for_speech


def finish_sentence(text: str) -> str:
    text = speakable(text)
    if text and text[-1] not in ".!?":
        text += "."
    return text


class SentenceSplitter:
    """Collects streamed text pieces and hands out whole, speakable sentences as soon as they end."""

    def __init__(self) -> None:
        self._stream = SentenceStream()

    def feed(self, piece: str) -> list[str]:
        return [p for p in (speakable(p) for p in self._stream.feed(piece)) if p]

    def flush(self) -> str:
        return speakable(self._stream.flush())

    @property
    def pending(self) -> str:
        """Text received that does not end a sentence yet."""
        return self._stream.pending

    def clause(self) -> str:
        """The start of the pending sentence that can be said on its own, or "" if there is none yet:
        up to its last comma or colon ("The cat is allergic to chicken,"), else, once it is JOIN_AFTER words
        long, up to a joining word or the start of a place phrase ("by", "under"), where it gets a comma ("The car needs 2.4 bar at the front," | "and 2.6 bar
        at the back.").

        Said before its sentence ends, it is the first words out a few tokens earlier. The joining words
        are the TTS's (it cuts a long first sentence there too), and a streaming TTS speaks a first piece
        that ends at a comma at once, without waiting for the rest of the sentence.
        """
        buffer = self.pending
        cut = max(buffer.rfind(", "), buffer.rfind(": "))
        if cut >= 0:
            head = speakable(buffer[:cut])
            return f"{head}," if head else ""
        words = buffer.split()
        if buffer and not buffer[-1].isspace():
            words = words[:-1]  # the last word may still grow
        if len(words) > JOIN_AFTER and starts_phrase(words[-1]):
            head = speakable(" ".join(words[:-1]))
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


def best_clause(note: str, question: str) -> str:
    """The part of a long note that answers: "X is under the sink; turn it clockwise" -> "X is under the sink."."""
    clauses = [c for c in re.split(r";\s+", speakable(note)) if c]
    if len(clauses) <= 1:
        return finish_sentence(note)
    qwords = content_words(question)
    best = max(clauses, key=lambda c: (len(qwords & content_words(c)), -clauses.index(c)))
    return finish_sentence(best)
