"""Prompts for instruction-tuned models, written in the model's own chat template.

An instruction-tuned GGUF (Qwen, Llama, Gemma-it, SmolLM ...) was trained on conversations in one markup
and carries it as a Jinja template (`tokenizer.chat_template` in its metadata). In that markup it follows
instructions; fed a plain document, as the bundled base model is, it does much worse.

The conversation is: a system message (the instruction, then the notes), the earlier turns as user and
assistant messages, and the question as the last user message. Every system message starts with the same
instruction, so the start of every prompt is the same tokens: evaluated once at load, then found in
llama.cpp's KV cache (`ChatTemplate.prefix`).

Only the template's own markup may become special tokens: a question or a note that spells "<|im_end|>"
stays text. The template is rendered with a placeholder for each message's content, and the pieces are
tokenized apart (`ChatPrompt.pieces`: markup with special tokens parsed, content without).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

NOT_IN_NOTES = "I don't have that in your notes."
INSTRUCTION = (
    "You are a voice assistant in a home. Your answer is spoken aloud: one short sentence in plain words, "
    "no lists, no markdown."
)
WITH_NOTES = (
    " Answer only from the household's notes below: say only what they say, with their numbers and names "
    f'exactly as written. If the notes do not answer the question, say "{NOT_IN_NOTES}"\n\nNotes:\n'
)
WITHOUT_NOTES = (
    " You have no notes for this question. You may answer general questions, but never make up facts about "
    f'the household (codes, phone numbers, people, dates, settings): for those, say "{NOT_IN_NOTES}"'
)
# llama-cpp-python renders templates the way transformers does; these are the variables templates ask for
# besides messages. Hybrid reasoning models (Qwen3 ...) would otherwise think aloud for hundreds of tokens.
TEMPLATE_OPTIONS = {"enable_thinking": False}

_SLOT = "\ue000{}\ue001"  # private-use characters: not in any note, not whitespace (templates `trim` content)
_SLOTS = re.compile("\ue000(\\d+)\ue001")


class Exchange(Protocol):
    """An earlier turn of the conversation (handle.prompt.Turn)."""

    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> str: ...


class ChatTemplateError(ValueError):
    """The template cannot render our conversation (a syntax error, or it drops a message)."""


@dataclass(frozen=True)
class ChatPrompt:
    """A rendered conversation, in order: (text, is_markup). Content pieces are never parsed for special tokens."""

    pieces: tuple[tuple[str, bool], ...]

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.pieces)


class ChatTemplate:
    """A GGUF's chat template, ready to render conversations (templates without a system role get the system
    message at the start of the first user message, as their own examples do)."""

    def __init__(self, template: str, bos_token: str, eos_token: str) -> None:
        from jinja2 import TemplateError
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            self._formatter = Jinja2ChatFormatter(template, eos_token=eos_token, bos_token=bos_token)
        except TemplateError as err:
            raise ChatTemplateError(f"the chat template cannot be read: {err}") from None
        self.stop = [eos_token] if eos_token else []  # llama.cpp also stops at every end-of-generation token
        self.system_role = True
        try:
            self.render([("system", "s"), ("user", "u")])
        except ChatTemplateError:
            self.system_role = False
            self.render([("system", "s"), ("user", "u")])  # a template that cannot render a plain turn: raises

    def render(self, messages: Sequence[tuple[str, str]]) -> ChatPrompt:
        """(role, content) messages -> the prompt that asks the model for the next assistant message."""
        from jinja2 import TemplateError

        messages = [(role, content.strip()) for role, content in messages]
        if not self.system_role and messages and messages[0][0] == "system":
            system, *messages = messages
            if messages and messages[0][0] == "user":
                messages[0] = ("user", f"{system[1]}\n\n{messages[0][1]}")
            else:
                messages.insert(0, ("user", system[1]))
        slotted = [{"role": role, "content": _SLOT.format(i)} for i, (role, _) in enumerate(messages)]
        try:
            text = self._formatter(messages=slotted, **TEMPLATE_OPTIONS).prompt
        except (TemplateError, ValueError, TypeError) as err:  # ValueError: the template's raise_exception
            raise ChatTemplateError(f"the chat template cannot render this conversation: {err}") from None
        pieces: list[tuple[str, bool]] = []
        seen: set[int] = set()
        start = 0
        for slot in _SLOTS.finditer(text):
            if slot.start() > start:
                pieces.append((text[start : slot.start()], True))
            index = int(slot[1])
            seen.add(index)
            pieces.append((messages[index][1], False))
            start = slot.end()
        if start < len(text):
            pieces.append((text[start:], True))
        if seen != set(range(len(messages))):
            raise ChatTemplateError("the chat template leaves out a message of the conversation")
        return ChatPrompt(tuple(pieces))

    def prefix(self) -> ChatPrompt:
        """The start every prompt shares: the template's opening and the instruction (see `chat_prompt`)."""
        rendered = self.render([("system", INSTRUCTION), ("user", "?")])
        pieces: list[tuple[str, bool]] = []
        for text, markup in rendered.pieces:
            if not markup:
                pieces.append((INSTRUCTION, False))  # without a system role the question follows it: cut there
                break
            pieces.append((text, markup))
        return ChatPrompt(tuple(pieces))


def chat_prompt(template: ChatTemplate, question: str, notes: Sequence[str], history: Sequence[Exchange]) -> ChatPrompt:
    """System message (instruction, notes), the earlier turns, then the question."""
    system = INSTRUCTION + (WITH_NOTES + "\n".join(f"- {note.strip()}" for note in notes) if notes else WITHOUT_NOTES)
    messages = [("system", system)]
    for turn in history:
        messages += [("user", turn.question), ("assistant", turn.answer)]
    messages.append(("user", question))
    return template.render(messages)
