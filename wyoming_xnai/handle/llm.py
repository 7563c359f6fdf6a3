"""The local LLM: load a GGUF with llama-cpp-python and stream a completion that can be cancelled.

A `Llm` is prompted one of two ways (`--prompt-style`): a plain completion prompt, for base models like the
bundled Gemma 3 270M, or a conversation in the model's own chat template (`Llm.chat`), for instruction-tuned
GGUFs that carry one. Both stream through the same `create_completion`, so cancellation, thread easing and
KV-prefix reuse work the same.

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
from wyoming_xnai.handle.chat_prompt import ChatPrompt, ChatTemplate, ChatTemplateError
from wyoming_xnai.handle.llama_log import python_prints_logged, route_llama_log
from wyoming_xnai.models import BUNDLED_LLM, gguf_model
from wyoming_xnai.settings import HandleSettings

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

    def __init__(self, settings: HandleSettings) -> None:
        self.settings = settings
        spec = settings.handle_model
        self.name = spec if spec == BUNDLED_LLM else Path(spec).name
        self._llama = None
        self._logits_all = False
        self._load_lock = threading.Lock()
        self.chat: ChatTemplate | None = None  # set at load when the model is prompted in its chat template

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
            try:
                self.chat = self._chat_template()
            except LlmUnavailable:
                self._llama = None
                raise
            style = "its chat template" if self.chat else "a completion prompt"
            _LOGGER.info("LLM %s loaded (%s), prompted with %s", self.name, path, style)

    def _chat_template(self) -> ChatTemplate | None:
        """The model's chat template if the settings want it (auto: whenever the GGUF has one)."""
        llama, style = self._llama, self.settings.handle_prompt_style
        assert llama is not None
        template = llama.metadata.get("tokenizer.chat_template")
        if style == "completion" or (style == "auto" and not template):
            return None
        advice = "use --prompt-style completion (XNAI_HANDLE_PROMPT_STYLE)"
        if not template:
            raise LlmUnavailable(f"LLM '{self.name}' has no chat template (tokenizer.chat_template): {advice}")
        model = llama._model
        bos, eos = llama.token_bos(), llama.token_eos()
        try:
            return ChatTemplate(
                template, model.token_get_text(bos) if bos >= 0 else "", model.token_get_text(eos) if eos >= 0 else ""
            )
        except ChatTemplateError as err:
            if style == "chat":
                raise LlmUnavailable(f"LLM '{self.name}': {err}; {advice}") from None
            _LOGGER.warning("LLM %s: %s; prompting it with a completion prompt instead", self.name, err)
            return None

    def warm(self, prefix: str | ChatPrompt) -> None:
        """Evaluate the fixed start of the prompts now (blocking), so the first question finds it in the
        KV cache (llama-cpp-python reuses the longest common prefix of consecutive prompts)."""
        self.complete(prefix, 1, [], threading.Event(), lambda _piece: True)

    def tokens(self, prompt: str | ChatPrompt) -> list[int]:
        """A completion prompt as llama-cpp-python reads a text prompt (BOS if the model wants one); a chat
        prompt with special tokens only from the template's markup (it writes BOS itself where it wants one)."""
        llama = self._llama
        assert llama is not None
        if isinstance(prompt, str):
            return llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        out: list[int] = []
        for text, markup in prompt.pieces:
            out += llama.tokenize(text.encode("utf-8"), add_bos=False, special=markup)
        return out

    def mean_logprob(self, prefix: str, text: str) -> float:
        """Average log-probability per token of `text` following `prefix` (blocking; one forward pass
        over `text`): how plausible the model finds it. The prefix is usually in the KV cache already."""
        import numpy as np

        self.load()
        llama = self._llama
        assert llama is not None
        head = llama.tokenize(prefix.encode("utf-8"), add_bos=True)
        tokens = llama.tokenize((prefix + text).encode("utf-8"), add_bos=True)
        if tokens[: len(head)] != head or len(tokens) <= len(head) or len(tokens) >= min(llama.n_ctx(), len(llama.scores)):
            return 0.0  # the text does not tokenize apart from the prefix: no judgement
        keep = 0  # the longest common prefix with what llama.cpp holds in its KV cache
        while keep < min(llama.n_tokens, len(head)) and llama.input_ids[keep] == tokens[keep]:
            keep += 1
        keep = max(keep - 1, 0)  # re-evaluate one token so its logits are fresh
        llama.n_tokens = keep
        llama._logits_all = True  # this one evaluation keeps every position's logits
        try:
            llama.eval(tokens[keep:])
        finally:
            llama._logits_all = self._logits_all
        rows = np.asarray(llama.scores[len(head) - 1 : len(tokens) - 1], dtype=np.float64)
        top = rows.max(axis=1, keepdims=True)
        logz = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        picked = rows[np.arange(len(rows)), tokens[len(head) :]]
        return float(np.mean(picked - logz))
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

    def complete(
        self,
        prompt: str | ChatPrompt,
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

        self.load()
        llama = self._llama
        assert llama is not None
        tokens = self.tokens(prompt)
        input_tokens = len(tokens)
        room = llama.n_ctx() - input_tokens
        if room < 8:
            raise PromptTooLong(f"prompt of {input_tokens} tokens does not fit the context of {llama.n_ctx()}")
        output_tokens = 0
        finish = "stop"
        pieces: list[str] = []
        stream = _greedy_stream(llama, tokens, min(max_tokens, room), stop, cancel)
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


def _greedy_stream(llama, tokens: list[int], max_tokens: int, stop: list[str], cancel: threading.Event):
    """llama.cpp's completion of `tokens`, one piece at a time, that stops at the next token once `cancel` is set."""
    from llama_cpp import StoppingCriteriaList

    return llama.create_completion(
        tokens,
        max_tokens=max_tokens,
        temperature=0.0,
        repeat_penalty=1.1,
        stop=stop,
        stream=True,
        stopping_criteria=StoppingCriteriaList([lambda _ids, _logits: cancel.is_set()]),
    )


async def generate(
    llm: Llm,
    prompt: str | ChatPrompt,
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
