"""The answer chain: judge the question, find the note that answers it, let the LLM word it, check every fact.

1. Not English, misheard, or small talk is answered as such (`question`).
2. Retrieval finds notes; `evidence.assess` weighs them and picks the one that answers, or none.
3. With a note, the LLM words the answer and `grounding` lets through only what that note says (else
   the note itself is said). Without one, a household question gets "I don't have that in your notes",
   a question the model finds implausible is asked again, and small talk or general knowledge goes to
   the LLM without notes (checked not to recite its prompt). No index at all: how to add documents.

Retrieval and the LLM each run under a circuit breaker and a timeout. Whatever fails, the user gets a
spoken answer, and which stage gave it is logged and counted (xnai_answer_stage{stage}). The LLM is not
re-entrant: it is used through a one-slot WorkQueue whose bounded waiting line turns overload into a
polite "busy" answer instead of a timeout. Each answer carries an `Outcome` (`replies`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import anyio
import numpy as np

from wyoming_xnai.handle import question as asked
from wyoming_xnai.handle import replies
from wyoming_xnai.handle.answer_cache import AnswerCache
from wyoming_xnai.handle.breakers import Breakers, OpenedState
from wyoming_xnai.handle.chat_prompt import ChatPrompt, chat_prompt
from wyoming_xnai.handle.evidence import Lexicon, answer_type, assess
from wyoming_xnai.handle.grounding import Grounding, best_clause
from wyoming_xnai.handle.llm import Llm, LlmUnavailable, generate
from wyoming_xnai.handle.memory import ConversationMemory
from wyoming_xnai.handle.notes import Note, merge_notes, rank_notes
from wyoming_xnai.handle.prompt import (
    EXAMPLE,
    INSTRUCTION,
    PLAIN_EXAMPLE,
    RAG_PREFIX,
    STOP,
    Turn,
    is_follow_up,
    plain_prompt,
    rag_prompt,
    retrieval_query,
    split_sentences,
)
from wyoming_xnai.handle.replies import Outcome
from wyoming_xnai.server.logs import private
from wyoming_xnai.server.metrics import FALLBACK_STAGE, LATENCY
from wyoming_xnai.server.queue import Busy, WorkQueue
from wyoming_xnai.server.tracing import tracer
from wyoming_xnai.settings import HandleSettings
from wyoming_xnai.text.cleaning import has_sayable_text

_LOGGER = logging.getLogger(__name__)

OnSentence = Callable[[str], Awaitable[None]]
T = TypeVar("T")
NO_ANSWER = "gave no answer"
# Below this average log-probability per token (Gemma 3 270M, after the plain prompt's start) a question
# the notes do not answer is taken as misheard. Fitted on the dev set: its garbled transcripts score
# -6.3 to -14, its real questions -2 to -7.8 (the few below -7 have rare names and get a note anyway).
IMPLAUSIBLE = -7.0
# A question whose best note shares a key term and is this close in meaning is about the household.
ON_TOPIC_SIMILARITY = 0.4
NEAREST_NOTES = 8  # notes closest to the question over all documents, added to those of the best passages
PLAUSIBILITY_PREFIX = f"{INSTRUCTION}{EXAMPLE}{PLAIN_EXAMPLE}Question:"


@dataclass(frozen=True)
class Stage:
    """A step of the chain that may fail without failing the answer: its breaker, latency label and deadline."""

    name: str  # its circuit breaker and its key in Answer.problems
    step: str  # its label of the xnai_latency_seconds metric
    timeout: float  # seconds (for the message; the work applies it where it belongs)
    slot: Callable[[], AbstractAsyncContextManager] | None = None  # held around the work, outside the breaker
    explained: tuple[type[Exception], ...] = (Exception,)  # errors that say enough without a traceback


@dataclass
class Answer:
    text: str
    stage: str  # rag | llm | cache | template | busy | judged (decided without the LLM)
    sources: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # stage -> what went wrong
    extractive: bool = False  # the LLM's words did not hold up, the note itself was said
    outcome: Outcome = Outcome.ANSWERED


class Answerer:
    """Everything needed to answer a question; shared by the Wyoming server and `xnai ask`."""

    def __init__(self, settings: HandleSettings) -> None:
        s = settings
        self.settings = s
        self.llm = Llm(s)
        self.queue = WorkQueue("handle", 1, s.handle_max_queue)
        self.breakers = Breakers(["retrieval", "llm"], s.handle_breaker_failures, s.handle_breaker_reset)
        self.memory = ConversationMemory(max_turns=s.handle_memory_turns, ttl=s.handle_memory_seconds)
        self.cache = AnswerCache(s.handle_cache_size, s.handle_cache_similarity)
        self._embedder = None
        self._kb = None
        self._kb_lock = threading.Lock()
        self._bad_version: str | None = None  # a live version that failed to open: not retried

    # --- loading (blocking) -----------------------------------------------------------------------

    def load(self) -> None:
        """Load what can be loaded; a missing index or a broken LLM is logged and answered around."""
        asked.load()  # the language identifier and the English word list: not on the first question
        try:
            self.knowledge()
            self.embedder().embed(["warm up"])  # onnxruntime's first run is slow: not on the first question
        except Exception as err:
            _LOGGER.warning("documents unavailable, answering without them: %s", err)
        try:
            self.llm.load()
        except LlmUnavailable as err:
            _LOGGER.error("%s; answering from the cache and templates until it loads", err)
            return
        try:
            self.llm.warm(self.llm.chat.prefix() if self.llm.chat else RAG_PREFIX)
        except Exception as err:  # only the first answer is slower without it
            _LOGGER.warning("could not evaluate the prompt prefix ahead: %s", err)

    def embedder(self):
        if self._embedder is None:
            from wyoming_xnai.index.embed import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    def knowledge(self):
        """The open knowledge base, re-opened when `xnai ingest` has committed a new version."""
        from wyoming_xnai.index.knowledge import IndexUnavailable, KnowledgeBase

        with self._kb_lock:
            index_dir = self.settings.index_dir
            if self._kb is None:
                self._kb = KnowledgeBase.open(index_dir, self.embedder())
                return self._kb
            live = KnowledgeBase.live_version(index_dir)
            if live is None or live in (self._kb.version, self._bad_version):
                return self._kb  # unchanged, gone from under us, or known bad: keep what we have
            try:
                self._kb = KnowledgeBase.open(index_dir, self.embedder())
            except IndexUnavailable as err:  # a corrupt new version must not lose the good one
                self._bad_version = live
                _LOGGER.error("%s; answering from the previous index (%s)", err, self._kb.version)
            return self._kb

    def retrieve(self, query: str) -> tuple[list[Note], np.ndarray, Lexicon]:
        """Note sentences of the best passages, best first, the query's vector and the documents' words
        (blocking). Embeds only the query, once: ingest stored the sentences' vectors."""
        kb = self.knowledge()
        query_vec = kb.embed_query(query)
        passages = kb.search(query, self.settings.handle_top_k, query_vec)
        groups = [
            (passage.source, texts, vectors, contexts)
            for passage, (texts, vectors, contexts) in zip(passages, kb.sentences(passages), strict=True)
        ]
        groups += [(source, [text], vector[None], [context]) for source, text, vector, context in kb.nearest_notes(query_vec, NEAREST_NOTES)]
        candidates, vectors = merge_notes(groups, len(query_vec))
        return rank_notes(query, query_vec, candidates, vectors), query_vec, Lexicon(kb.vocabulary, kb.names, kb.word_vectors)

    # --- the chain ------------------------------------------------------------------------------

    async def answer(
        self,
        question: str,
        conversation_id: str | None = None,
        on_sentence: OnSentence | None = None,
        asr: dict | None = None,
    ) -> Answer:
        """Answer one question; `on_sentence` gets each sentence as soon as it is final; `asr` is the
        ASR's confidence when the caller sends it (`context["asr"]`)."""
        started = time.perf_counter()
        spoken: list[str] = []

        async def say(sentence: str) -> None:
            spoken.append(sentence)
            if on_sentence is not None:
                await on_sentence(sentence)

        question = question.strip()
        history = self.memory.history(conversation_id)
        follow_up = is_follow_up(question, history)
        problems: dict[str, str] = {}
        with tracer.start_as_current_span("handle.answer") as span:
            span.set_attribute("handle.follow_up", follow_up)
            context = history if follow_up else []
            answer, query_vec = await self._decide(question, context, follow_up, asr, problems, say)
            if answer.stage not in ("rag", "llm"):
                # fallback text is spoken after whatever the LLM managed to say before it failed
                for sentence in split_sentences(answer.text):
                    await say(sentence)
            answer.text = " ".join(spoken)  # exactly the chunks (ends with a comma if a first clause's rest failed)
            answer.problems = problems
            span.set_attribute("handle.stage", answer.stage)
            span.set_attribute("handle.outcome", str(answer.outcome))
        self.remember(conversation_id, question, answer)
        if answer.outcome == Outcome.ANSWERED and answer.stage in ("rag", "llm") and not follow_up:
            self.cache.put(question, answer.text, answer.sources, query_vec)
        return self._finish(answer, started)

    def remember(self, conversation_id: str | None, question: str, answer: Answer) -> None:
        """Keep the turn for the conversation's follow-ups, if it answered something a follow-up can lean on."""
        if answer.outcome == Outcome.ANSWERED and answer.stage in ("rag", "llm", "cache"):
            self.memory.add(conversation_id, question, answer.text)

    async def _decide(
        self,
        question: str,
        history: list[Turn],
        follow_up: bool,
        asr: dict | None,
        problems: dict[str, str],
        say: OnSentence,
    ) -> tuple[Answer, np.ndarray | None]:
        """Which kind of answer the question gets, and that answer (the LLM's sentences go to `say`)."""
        if not has_sayable_text(question):
            return _judged(replies.EMPTY if not question else replies.ASK_AGAIN, Outcome.ASK_AGAIN), None
        if asked.other_language(question, asr):
            return _judged(replies.ENGLISH_ONLY, Outcome.UNSUPPORTED_LANGUAGE), None
        query = retrieval_query(question, history) if follow_up else question
        retrieved = await self._retrieval_stage(query, problems)
        notes, query_vec, lexicon = retrieved if retrieved else (None, None, None)
        no_index = "retrieval" in problems and problems["retrieval"].startswith("no index")
        if asked.small_talk(question) or (not follow_up and asked.fragment(question)):
            if social := asked.social_reply(question):
                return _judged(social, Outcome.ANSWERED), query_vec
            if asked.asks_capabilities(question):
                return _judged(replies.NO_DOCUMENTS if no_index else replies.CAPABILITIES, Outcome.ANSWERED), query_vec
            if asked.fragment(question) and not asked.small_talk(question):
                return _judged(replies.ASK_AGAIN, Outcome.ASK_AGAIN), query_vec
            return await self._answered(question, None, history, problems, say, query_vec)
        if asked.misheard(question, asr, lexicon):
            return _judged(replies.ASK_AGAIN, Outcome.ASK_AGAIN), query_vec
        evidence = await anyio.to_thread.run_sync(assess, question, notes or [], lexicon) if lexicon else []
        if evidence and evidence[0].supports:
            if evidence[0].unsure and await self._implausible(question, problems):
                # a misheard question can share a note's words by chance: unless the support is sure, ask again
                return _judged(replies.ASK_AGAIN, Outcome.ASK_AGAIN), query_vec
            return await self._answered(question, evidence[0].note, history, problems, say, query_vec)
        if no_index:
            return _judged(replies.NO_DOCUMENTS, Outcome.NO_DOCUMENTS), query_vec
        if notes is None:  # retrieval failed: the LLM alone, as far as it may go without notes
            if asked.about_household(question, lexicon) or answer_type(question) is not None:
                return self._template(None, problems), query_vec
            return await self._answered(question, None, history, problems, say, query_vec)
        if await self._implausible(question, problems):
            return _judged(replies.ASK_AGAIN, Outcome.ASK_AGAIN), query_vec
        on_topic = bool(evidence) and evidence[0].matched > 0 and evidence[0].note.similarity >= ON_TOPIC_SIMILARITY
        if on_topic or asked.about_household(question, lexicon) or answer_type(question) is not None:
            # a code, a number, a name, a date or a place the notes do not give is not the LLM's to invent
            return self._not_in_notes(evidence[0].note if on_topic else None), query_vec
        return await self._answered(question, None, history, problems, say, query_vec)

    def _not_in_notes(self, closest: Note | None) -> Answer:
        text = replies.NOT_IN_NOTES
        if closest is not None and self.settings.handle_closest_note:
            text = f"{replies.NOT_EXACTLY} {best_clause(closest.text, '')}"
        return _judged(text, Outcome.NOT_IN_NOTES)

    async def _implausible(self, question: str, problems: dict[str, str]) -> bool:
        """Does the LLM find the question implausible as a sentence (a misheard one)? False when it cannot say."""
        if "llm" in problems or await self.breakers.is_open("llm"):
            return False
        try:
            async with self.queue.slot():
                with anyio.fail_after(self.settings.handle_llm_timeout):
                    score = await anyio.to_thread.run_sync(self.llm.mean_logprob, PLAUSIBILITY_PREFIX, f" {question}")
        except Busy:
            raise
        except Exception as err:  # judging is optional: answer as if plausible
            _LOGGER.info("could not judge the question's plausibility: %s", err)
            return False
        _LOGGER.debug("question plausibility %.2f", score)
        return score < IMPLAUSIBLE

    async def _answered(
        self,
        question: str,
        note: Note | None,
        history: list[Turn],
        problems: dict[str, str],
        say: OnSentence,
        query_vec: np.ndarray | None,
    ) -> tuple[Answer, np.ndarray | None]:
        """The LLM's answer (grounded in `note`, or without notes), else the cache, else a template."""
        try:
            answer = await self._llm_stage(question, note, history, problems, say)
        except Busy as err:
            _LOGGER.info("%s", err)
            return Answer(replies.BUSY, "busy", problems=problems, outcome=Outcome.BUSY), query_vec
        if answer is None:
            answer = await self._cache_stage(question, query_vec, problems)
        if answer is None:
            answer = self._template(note, problems)
        return answer, query_vec

    def _finish(self, answer: Answer, started: float) -> Answer:
        FALLBACK_STAGE.labels(answer.stage).inc()
        LATENCY.labels("handle", "answer").observe(time.perf_counter() - started)
        if answer.problems:
            _LOGGER.warning(
                "answered by stage %s, %s (%s)",
                answer.stage,
                answer.outcome,
                "; ".join(f"{k}: {v}" for k, v in answer.problems.items()),
            )
        else:
            _LOGGER.info("answered by stage %s, %s%s", answer.stage, answer.outcome, " (best note)" if answer.extractive else "")
        return answer

    async def _guarded(
        self, stage: Stage, work: Callable[[], Awaitable[T]], problems: dict[str, str]
    ) -> T | None:
        """Run one stage's work under its circuit breaker (in its queue slot, if any); a failure is written to
        `problems` and gives None, so the caller falls back. Busy (the queue is full) is the caller's to answer."""
        if await self.breakers.is_open(stage.name):
            problems[stage.name] = "circuit breaker open"
            return None
        started = time.perf_counter()
        try:
            async with stage.slot() if stage.slot else nullcontext(), self.breakers.guard(stage.name):
                result = await work()
        except OpenedState:
            problems[stage.name] = "circuit breaker open"
            return None
        except TimeoutError:
            problems[stage.name] = f"took longer than {stage.timeout} s"
            return None
        except Busy:
            raise
        except stage.explained as err:
            problems[stage.name] = str(err) or type(err).__name__
            return None
        except Exception as err:
            _LOGGER.exception("%s stage failed", stage.name)
            problems[stage.name] = str(err) or type(err).__name__
            return None
        LATENCY.labels("handle", stage.step).observe(time.perf_counter() - started)
        return result

    async def _retrieval_stage(
        self, query: str, problems: dict[str, str]
    ) -> tuple[list[Note], np.ndarray, Lexicon] | None:
        timeout = self.settings.handle_retrieval_timeout

        async def retrieve() -> tuple[list[Note], np.ndarray, Lexicon]:
            with anyio.fail_after(timeout):
                with tracer.start_as_current_span("handle.retrieve") as span:
                    span.set_attribute("handle.query", query)
                    found = await anyio.to_thread.run_sync(self.retrieve, query, abandon_on_cancel=True)
                    span.set_attribute("handle.notes", len(found[0]))
                    return found

        return await self._guarded(Stage("retrieval", "retrieve", timeout), retrieve, problems)

    async def _llm_stage(
        self, question: str, note: Note | None, history: list[Turn], problems: dict[str, str], say: OnSentence
    ) -> Answer | None:
        grounding = Grounding(question, note)
        timeout = self.settings.handle_llm_timeout

        async def word() -> bool:
            await anyio.to_thread.run_sync(self.llm.load)  # no-op when loaded; retries a failed load
            prompt, stop = self._prompt(question, note, history)
            with anyio.fail_after(timeout):
                await self._generate(prompt, stop, grounding, say, bool(note))
            return True

        wording = Stage("llm", "llm", timeout, self.queue.slot, explained=(LlmUnavailable,))
        if await self._guarded(wording, word, problems) is None:
            return None
        if grounding.rejected:
            _LOGGER.info("not supported by the note, not said: %r", private(grounding.rejected[0]))
        stage = "rag" if note else "llm"
        if grounding.said or grounding.heads:
            sources = [note.source] if note else []
            return Answer(grounding.text, stage, sources, extractive=grounding.extractive)
        problems["llm"] = NO_ANSWER
        return None

    def _prompt(self, question: str, note: Note | None, history: list[Turn]) -> tuple[str | ChatPrompt, list[str]]:
        """The bundled base model continues a plain document; an instruction-tuned one gets its own chat template."""
        if self.llm.chat is not None:
            return chat_prompt(self.llm.chat, question, [note.text] if note else [], history), self.llm.chat.stop
        return (rag_prompt(question, [note], history) if note else plain_prompt(question, history)), STOP

    async def _generate(
        self, prompt: str | ChatPrompt, stop: list[str], grounding: Grounding, say: OnSentence, with_note: bool
    ) -> None:
        """Stream the completion through `grounding`, saying what it lets through as soon as it does."""
        s = self.settings
        spoken = threading.Event()  # the first words are out: the LLM may write the rest on fewer threads

        async def on_piece(piece: str) -> bool:
            step = grounding.feed(piece)
            for text in step.say:
                spoken.set()
                await say(text)
            return not step.stop

        with tracer.start_as_current_span(f"text_completion {self.llm.name}") as span:
            span.set_attribute("gen_ai.operation.name", "text_completion")
            span.set_attribute("gen_ai.system", "llama.cpp")
            span.set_attribute("gen_ai.request.model", self.llm.name)
            span.set_attribute("gen_ai.request.max_tokens", s.handle_max_tokens)
            span.set_attribute("gen_ai.request.temperature", 0.0)
            span.set_attribute("handle.notes", int(with_note))
            completion = await generate(self.llm, prompt, s.handle_max_tokens, stop, on_piece, spoken)
            span.set_attribute("gen_ai.usage.input_tokens", completion.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", completion.output_tokens)
            span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])
        for text in grounding.finish(complete=completion.finish_reason != "stopped"):
            await say(text)

    async def _cache_stage(
        self, question: str, query_vec: np.ndarray | None, problems: dict[str, str]
    ) -> Answer | None:
        hit = self.cache.exact(question)
        if hit is None and len(self.cache):
            if query_vec is None and self._embedder is not None:
                try:
                    with anyio.fail_after(self.settings.handle_retrieval_timeout):
                        query_vec = (await anyio.to_thread.run_sync(self._embedder.embed, [question]))[0]
                except Exception as err:
                    problems["cache"] = f"cannot compare questions: {err}"
            if query_vec is not None and (similar := self.cache.similar(query_vec)) is not None:
                hit = similar[0]
                _LOGGER.info(
                    "cache: %r matches earlier %r (%.2f)", private(question), private(hit.question), similar[1]
                )
        if hit is None:
            return None
        return Answer(hit.answer, "cache", hit.sources)

    def _template(self, note: Note | None, problems: dict[str, str]) -> Answer:
        """Say plainly what failed; if the documents still work, read out the note that answers."""
        if problems.get("llm") == NO_ANSWER and note is None:
            return Answer(replies.DONT_KNOW, "template", outcome=Outcome.NOT_IN_NOTES)
        llm_down = "llm" in problems
        docs_down = "retrieval" in problems
        if llm_down and note is not None:
            text = f"My language model is not working right now, but my notes say: {best_clause(note.text, '')}"
            return Answer(text, "template", [note.source], outcome=Outcome.DEGRADED)
        if llm_down and docs_down:
            why = "my language model and my document index are both unavailable"
        elif llm_down:
            why = "my language model is not working and I found nothing about that in my notes"
        else:
            why = "something went wrong while answering"
        text = f"Sorry, I cannot answer that right now: {why}. Please try again later."
        return Answer(text, "template", outcome=Outcome.DEGRADED)


def _judged(text: str, outcome: Outcome) -> Answer:
    """An answer decided without the LLM."""
    return Answer(text, "judged", outcome=outcome)


def source_names(sources: list[str]) -> list[str]:
    return [Path(s).name for s in sources]
