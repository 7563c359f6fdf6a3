"""The local LLM: load a GGUF with llama-cpp-python and stream a completion that can be cancelled.

A `Llama` instance is not re-entrant: callers serialize through the service's WorkQueue (one slot).
Generation runs in a worker thread; cancelling the awaiting task sets a flag the thread checks after
every token, so a timeout or a departed client frees the model within one token.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from wyoming_xnai.handle.breakers import RequestFault
from wyoming_xnai.handle.llama_log import python_prints_logged, route_llama_log
from wyoming_xnai.models import BUNDLED_LLM, gguf_model
from wyoming_xnai.settings import Settings

_LOGGER = logging.getLogger(__name__)
PROMPT_RESERVE = 256  # tokens of a prompt that are not the question or earlier turns: instruction, example, notes


class LlmUnavailable(Exception):
    """The model could not be loaded (missing, truncated or not a GGUF)."""


class PromptTooLong(LlmUnavailable, RequestFault):
    """This prompt does not fit the context: the request's fault, not the model's (no breaker counts it)."""


@dataclass
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # "stop", "length", "stopped" (the caller had enough) or "cancelled"


class Llm:
    """One GGUF model, loaded lazily (and re-tried after a failure, so a fixed file recovers)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        spec = settings.handle_model
        self.name = spec if spec == BUNDLED_LLM else Path(spec).name
        self._llama = None
        self._load_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def load(self) -> None:
        """Load the model if it is not loaded yet (blocking). Raises LlmUnavailable."""
        with self._load_lock:
            if self._llama is not None:
                return
            from llama_cpp import GGML_TYPE_F16, GGML_TYPE_F32, Llama

            s = self.settings
            try:
                path = gguf_model(s.handle_model, s.models_dir)
                kv_type = GGML_TYPE_F16 if s.handle_f16_kv else GGML_TYPE_F32
                route_llama_log()
                with python_prints_logged():  # verbose=False would silence fd 1 and 2 of the whole process
                    self._llama = Llama(
                        model_path=str(path),
                        n_ctx=s.handle_context_size,
                        n_threads=s.handle_threads,
                        n_threads_batch=s.handle_threads,
                        use_mlock=s.handle_mlock,
                        type_k=kv_type,
                        type_v=kv_type,
                        verbose=True,
                    )
                self._llama.verbose = False  # no per-call prints once loaded
            except Exception as err:  # llama.cpp says ValueError for a bad file; the resolver says UserError
                raise LlmUnavailable(f"cannot load LLM '{s.handle_model}': {err}") from None
            _LOGGER.info("LLM %s loaded (%s)", self.name, path)

    def warm(self, prefix: str) -> None:
        """Evaluate the fixed start of the prompts now (blocking), so the first question finds it in the
        KV cache (llama-cpp-python reuses the longest common prefix of consecutive prompts)."""
        self.complete(prefix, 1, [], threading.Event(), lambda _piece: True)

    @property
    def question_tokens(self) -> int:
        """The most tokens one question may have: with as many earlier turns and the rest of the prompt,
        it still leaves room for the answer in the context."""
        s = self.settings
        room = s.handle_context_size - s.handle_max_tokens - PROMPT_RESERVE
        return max(16, room // (s.handle_memory_turns + 1))

    def cut(self, text: str, max_tokens: int) -> str:
        """`text` cut to its first `max_tokens` tokens (unchanged when it fits or no model is loaded yet)."""
        llama = self._llama
        if llama is None:
            return text
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False)
        if len(tokens) <= max_tokens:
            return text
        return llama.detokenize(tokens[:max_tokens]).decode("utf-8", errors="ignore").strip()

    def count_tokens(self, text: str) -> int:
        assert self._llama is not None
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True))

    def complete(
        self,
        prompt: str,
        max_tokens: int,
        stop: list[str],
        cancel: threading.Event,
        on_piece: Callable[[str], bool],
        spoken: threading.Event | None = None,
    ) -> Completion:
        """Greedy completion (blocking); `on_piece` gets each piece of text and returns False to stop.

        Once `spoken` is set (the first words went out to be said), the rest is written on
        `--threads-after-first` threads: on a small box TTS is synthesizing those words right now, and
        two thread pools spinning on two cores slow both, while the listener waits only for the first.
        """
        import llama_cpp
        from llama_cpp import StoppingCriteriaList

        self.load()
        llama = self._llama
        assert llama is not None
        input_tokens = self.count_tokens(prompt)
        room = llama.n_ctx() - input_tokens
        if room < 8:
            raise PromptTooLong(f"prompt of {input_tokens} tokens does not fit the context of {llama.n_ctx()}")
        output_tokens = 0
        finish = "stop"
        pieces: list[str] = []
        stream = llama.create_completion(
            prompt,
            max_tokens=min(max_tokens, room),
            temperature=0.0,
            repeat_penalty=1.1,
            stop=stop,
            stream=True,
            stopping_criteria=StoppingCriteriaList([lambda _ids, _logits: cancel.is_set()]),
        )
        threads, ease_to = self.settings.handle_threads, self.settings.handle_threads_after_first
        eased = False
        try:
            for chunk in stream:
                if spoken is not None and spoken.is_set() and not eased and ease_to and ease_to != threads:
                    llama_cpp.llama_set_n_threads(llama.ctx, ease_to, ease_to)
                    eased = True
                choice = chunk["choices"][0]
                piece = choice["text"]
                output_tokens += 1
                if piece:
                    pieces.append(piece)
                    if not on_piece(piece):
                        cancel.set()
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        finally:
            stream.close()
            if eased:
                llama_cpp.llama_set_n_threads(llama.ctx, threads, threads)
        if cancel.is_set():
            finish = "cancelled"
        return Completion("".join(pieces), input_tokens, output_tokens, finish)


async def generate(
    llm: Llm,
    prompt: str,
    max_tokens: int,
    stop: list[str],
    on_piece: Callable[[str], Awaitable[bool]],
    spoken: threading.Event | None = None,
) -> Completion:
    """Stream a completion from a worker thread; `on_piece` runs in the event loop, in order, and
    returns False when the caller has enough. Set `spoken` once the first words are out (see complete).

    If the caller is cancelled (timeout, client gone) the thread is told to stop and is waited for,
    so the model is never used by two requests at once.
    """
    cancel = threading.Event()
    enough = threading.Event()
    send, receive = anyio.create_memory_object_stream[str](max_buffer_size=math.inf)
    result: list[Completion] = []
    pieces = 0

    def push(piece: str) -> bool:
        try:
            anyio.from_thread.run_sync(send.send_nowait, piece)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, RuntimeError):
            return False
        return not cancel.is_set()

    async def work() -> None:
        with send:
            result.append(await anyio.to_thread.run_sync(llm.complete, prompt, max_tokens, stop, cancel, push, spoken))

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(work)
            try:
                async with receive:
                    async for piece in receive:
                        pieces += 1
                        if not cancel.is_set() and not await on_piece(piece):
                            enough.set()
                            cancel.set()  # the caller has its answer: stop generating
            finally:
                cancel.set()  # no-op when finished; stops the thread on cancellation or error
    except anyio.get_cancelled_exc_class():
        _LOGGER.info("LLM generation cancelled after %d pieces of text", pieces)
        raise
    completion = result[0]
    if enough.is_set():
        completion.finish_reason = "stopped"
    return completion
