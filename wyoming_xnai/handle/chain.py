"""The answer chain: RAG+LLM -> LLM without retrieval -> answer cache -> an honest template.

Retrieval and the LLM each run under a circuit breaker and a timeout. Whatever fails, the user gets a
spoken answer, and which stage gave it is logged and counted (xnai_answer_stage{stage}).
The LLM is not re-entrant: it is used through a one-slot WorkQueue whose bounded waiting line turns
overload into a polite "busy" answer instead of a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import numpy as np

from wyoming_xnai.handle.answer_cache import AnswerCache
from wyoming_xnai.handle.breakers import Breakers, OpenedState
from wyoming_xnai.handle.llm import Llm, LlmUnavailable, generate
from wyoming_xnai.handle.memory import ConversationMemory
from wyoming_xnai.handle.prompt import (
    MAX_SENTENCES,
    RAG_PREFIX,
    STOP,
    Note,
    SentenceSplitter,
    Turn,
    best_clause,
    cannot_be_grounded,
    finish_sentence,
    grounded,
    is_follow_up,
    merge_notes,
    plain_prompt,
    rag_prompt,
    rank_notes,
    remainder,
    retrieval_query,
    split_sentences,
)
from wyoming_xnai.server.logs import private
from wyoming_xnai.server.metrics import FALLBACK_STAGE, LATENCY
from wyoming_xnai.server.queue import Busy, WorkQueue
from wyoming_xnai.server.tracing import tracer
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)

OnSentence = Callable[[str], Awaitable[None]]
BUSY_TEXT = "Sorry, I am busy answering other questions. Please ask me again in a moment."
EMPTY_TEXT = "Sorry, I did not hear a question."
NO_ANSWER = "gave no answer"


@dataclass
class Answer:
    text: str
    stage: str  # rag | llm | cache | template | busy
    sources: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # stage -> what went wrong
    extractive: bool = False  # the LLM's words were not grounded, the best note was said instead


class Answerer:
    """Everything needed to answer a question; shared by the Wyoming server and `xnai ask`."""

    def __init__(self, settings: Settings) -> None:
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
            self.llm.warm(RAG_PREFIX)
        except Exception as err:  # only the first answer is slower without it
            _LOGGER.warning("could not evaluate the prompt prefix ahead: %s", err)

    def embedder(self):
        if self._embedder is None:
            from wyoming_xnai.rag.embed import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    def knowledge(self):
        """The open knowledge base, re-opened when `xnai ingest` has committed a new version."""
        from wyoming_xnai.rag.knowledge import IndexUnavailable, KnowledgeBase

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

    def _retrieve(self, query: str) -> tuple[list[Note], np.ndarray]:
        """Note sentences of the best passages, best first. Embeds only the query, once: the sentences'
        vectors were stored by ingest (an index from before that embeds them on first use)."""
        kb = self.knowledge()
        query_vec = kb.embed_query(query)
        passages = kb.search(query, self.settings.handle_top_k, query_vec)
        groups = kb.sentences(passages)
        candidates, vectors = merge_notes(
            [(p.source, texts, vecs) for p, (texts, vecs) in zip(passages, groups, strict=True)], len(query_vec)
        )
        return rank_notes(query, query_vec, candidates, vectors), query_vec

    # --- the chain ------------------------------------------------------------------------------

    async def answer(
        self, question: str, conversation_id: str | None = None, on_sentence: OnSentence | None = None
    ) -> Answer:
        """Answer one question; `on_sentence` gets each sentence as soon as it is final."""
        started = time.perf_counter()
        spoken: list[str] = []

        async def say(sentence: str) -> None:
            spoken.append(sentence)
            if on_sentence is not None:
                await on_sentence(sentence)

        question = question.strip()
        if not question:
            await say(EMPTY_TEXT)
            return self._finish(Answer(EMPTY_TEXT, "template"), started)
        history = self.memory.history(conversation_id)
        follow_up = is_follow_up(question, history)
        problems: dict[str, str] = {}
        with tracer.start_as_current_span("handle.answer") as span:
            span.set_attribute("handle.follow_up", follow_up)
            notes, query_vec = await self._retrieval_stage(retrieval_query(question, history), problems)
            try:
                # earlier turns go into the prompt only when this question leans on them: a new topic
                # reads faster without them, and a small model is not led astray by them
                context = history if follow_up else []
                answer = await self._llm_stage(question, notes, context, problems, say)
            except Busy as err:
                _LOGGER.info("%s", err)
                answer = Answer(BUSY_TEXT, "busy", problems=problems)
            if answer is None:
                answer = await self._cache_stage(question, query_vec, problems)
            if answer is None:
                answer = self._template(notes, problems)
            if answer.stage != "rag" and answer.stage != "llm":
                # fallback text is spoken after whatever the LLM managed to say before it failed
                for sentence in split_sentences(answer.text):
                    await say(sentence)
            answer.text = " ".join(spoken)  # exactly the chunks (ends with a comma if a first clause's rest failed)
            answer.problems = problems
            span.set_attribute("handle.stage", answer.stage)
        if answer.stage in ("rag", "llm", "cache"):
            self.memory.add(conversation_id, question, answer.text)
        if answer.stage in ("rag", "llm") and not follow_up:
            self.cache.put(question, answer.text, answer.sources, query_vec)
        return self._finish(answer, started)

    def _finish(self, answer: Answer, started: float) -> Answer:
        FALLBACK_STAGE.labels(answer.stage).inc()
        LATENCY.labels("handle", "answer").observe(time.perf_counter() - started)
        if answer.problems:
            _LOGGER.warning(
                "answered by stage %s (%s)", answer.stage, "; ".join(f"{k}: {v}" for k, v in answer.problems.items())
            )
        else:
            _LOGGER.info("answered by stage %s%s", answer.stage, " (best note)" if answer.extractive else "")
        return answer

    async def _retrieval_stage(
        self, query: str, problems: dict[str, str]
    ) -> tuple[list[Note] | None, np.ndarray | None]:
        if await self.breakers.is_open("retrieval"):
            problems["retrieval"] = "circuit breaker open"
            return None, None
        started = time.perf_counter()
        try:
            async with self.breakers.guard("retrieval"):
                with anyio.fail_after(self.settings.handle_retrieval_timeout):
                    with tracer.start_as_current_span("handle.retrieve") as span:
                        span.set_attribute("handle.query", query)
                        notes, vec = await anyio.to_thread.run_sync(self._retrieve, query, abandon_on_cancel=True)
                        span.set_attribute("handle.notes", len(notes))
        except OpenedState:
            problems["retrieval"] = "circuit breaker open"
            return None, None
        except TimeoutError:
            problems["retrieval"] = f"took longer than {self.settings.handle_retrieval_timeout} s"
            return None, None
        except Exception as err:
            problems["retrieval"] = str(err) or type(err).__name__
            return None, None
        LATENCY.labels("handle", "retrieve").observe(time.perf_counter() - started)
        return notes, vec

    async def _llm_stage(
        self, question: str, notes: list[Note] | None, history: list[Turn], problems: dict[str, str], say: OnSentence
    ) -> Answer | None:
        if await self.breakers.is_open("llm"):
            problems["llm"] = "circuit breaker open"
            return None
        s = self.settings
        relevant = [n for n in notes or [] if n.similarity >= s.handle_min_similarity][: s.handle_notes]
        prompt = rag_prompt(question, relevant, history) if relevant else plain_prompt(question, history)
        stage = "rag" if notes is not None else "llm"
        splitter = SentenceSplitter()
        spoken = threading.Event()  # the first words are out: the LLM may write the rest on fewer threads

        async def speak(text: str) -> None:
            spoken.set()
            await say(text)

        said: list[str] = []
        rejected: list[str] = []
        head = ""  # the first clause of the sentence being generated, said already
        heads: list[str] = []  # every such clause (one said whose sentence then failed still counts)

        async def accept(sentence: str) -> bool:
            nonlocal head
            # a small model copies whole note sentences: "X; Y" -> "X." (the direct answer comes first)
            sentence = finish_sentence(sentence.split("; ")[0])
            said_head, head = head, ""
            if len(said) >= MAX_SENTENCES or sentence in said:
                return False
            rest = remainder(sentence, said_head) if said_head else sentence
            if rest and relevant and not grounded(rest, question, relevant):
                rejected.append(sentence)
                return False
            said.append(sentence)
            if rest:
                await speak(rest)
            return True

        async def on_piece(piece: str) -> bool:
            nonlocal head
            for sentence in splitter.feed(piece):
                if not await accept(sentence):
                    return False
            if "; " in splitter.pending:  # the sentence will be cut there anyway: say it, stop generating
                await accept(splitter.flush())
                return False
            if not said and relevant and cannot_be_grounded(splitter.pending, question, relevant):
                rejected.append(splitter.flush())  # a made-up number: stop now, the best note is said at once
                return False
            if not said and not head:
                # The first words out early: the first clause, once it is grounded by itself, is said
                # before its sentence ends; the rest of the sentence is checked on its own when it ends.
                clause = splitter.clause()
                if len(clause.split()) >= 2 and (not relevant or grounded(clause, question, relevant)):
                    head = clause
                    heads.append(clause)
                    await speak(clause)
            return True

        started = time.perf_counter()
        try:
            async with self.queue.slot(), self.breakers.guard("llm"):
                await anyio.to_thread.run_sync(self.llm.load)  # no-op when loaded; retries a failed load
                with anyio.fail_after(s.handle_llm_timeout):
                    with tracer.start_as_current_span(f"text_completion {self.llm.name}") as span:
                        span.set_attribute("gen_ai.operation.name", "text_completion")
                        span.set_attribute("gen_ai.system", "llama.cpp")
                        span.set_attribute("gen_ai.request.model", self.llm.name)
                        span.set_attribute("gen_ai.request.max_tokens", s.handle_max_tokens)
                        span.set_attribute("gen_ai.request.temperature", 0.0)
                        span.set_attribute("handle.notes", len(relevant))
                        completion = await generate(self.llm, prompt, s.handle_max_tokens, STOP, on_piece, spoken)
                        span.set_attribute("gen_ai.usage.input_tokens", completion.input_tokens)
                        span.set_attribute("gen_ai.usage.output_tokens", completion.output_tokens)
                        span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])
                    if completion.finish_reason != "stopped" and (rest := splitter.flush()):
                        await accept(rest)
        except OpenedState:
            problems["llm"] = "circuit breaker open"
            return None
        except TimeoutError:
            problems["llm"] = f"took longer than {s.handle_llm_timeout} s"
            return None
        except LlmUnavailable as err:
            problems["llm"] = str(err)
            return None
        except Busy:
            raise
        except Exception as err:
            _LOGGER.exception("LLM stage failed")
            problems["llm"] = str(err) or type(err).__name__
            return None
        LATENCY.labels("handle", "llm").observe(time.perf_counter() - started)
        if rejected:
            _LOGGER.info("not grounded in the notes, not said: %r", private(rejected[0]))
        sources = list(dict.fromkeys(n.source for n in relevant))
        if said or heads:
            return Answer(" ".join(said or heads), stage, sources)
        if relevant:  # the LLM said nothing usable: say (the answering part of) the best note itself
            text = best_clause(relevant[0].text, question)
            await say(text)
            return Answer(text, stage, [relevant[0].source], extractive=True)
        problems["llm"] = NO_ANSWER
        return None

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

    def _template(self, notes: list[Note] | None, problems: dict[str, str]) -> Answer:
        """Say plainly what failed; if the documents still work, read out the best match."""
        relevant = [n for n in notes or [] if n.similarity >= self.settings.handle_min_similarity]
        if problems.get("llm") == NO_ANSWER and not relevant:
            return Answer("Sorry, I do not know the answer to that.", "template")
        llm_down = "llm" in problems
        docs_down = "retrieval" in problems
        if llm_down and relevant:
            text = f"My language model is not working right now, but my notes say: {best_clause(relevant[0].text, '')}"
            return Answer(text, "template", [relevant[0].source])
        if llm_down and docs_down:
            why = "my language model and my document index are both unavailable"
        elif llm_down:
            why = "my language model is not working and I found nothing about that in my notes"
        else:
            why = "something went wrong while answering"
        return Answer(f"Sorry, I cannot answer that right now: {why}. Please try again later.", "template")


def source_names(sources: list[str]) -> list[str]:
    return [Path(s).name for s in sources]
