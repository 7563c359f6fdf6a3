"""The question-answering server (`xnai handle`) and `xnai ask`: the LLM, retrieval, and the server's limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wyoming_xnai.settings.fields import AtLeastOne, Count, Seconds, deadline, queue, timeout
from wyoming_xnai.settings.ingest import EmbedSettings
from wyoming_xnai.settings.server import ServerSettings


class HandleSettings(ServerSettings, EmbedSettings):
    """What answering reads: the LLM, retrieval over the index in the data dir, fallbacks, memory and cache."""

    prefix = "handle"

    handle_uri: str = Field("tcp://0.0.0.0:10600", description="Where the handle server listens")
    handle_model: str = Field("gemma3-270m", description="GGUF model: bundled 'gemma3-270m' or a .gguf path")
    handle_prompt_style: Literal["auto", "completion", "chat"] = Field(
        "auto",
        description="How to prompt the LLM: its own chat template (instruction-tuned GGUFs), a plain completion "
        "prompt (base models), or auto: chat when the GGUF carries a template",
    )
    handle_threads: AtLeastOne = Field(2, description="LLM threads")
    handle_threads_after_first: Count = Field(
        1, description="LLM threads once the first words are out, leaving a core to TTS (0 = no change)"
    )
    handle_context_size: int = Field(2048, ge=256, description="LLM context size in tokens")
    handle_max_tokens: AtLeastOne = Field(64, description="Longest answer in tokens")
    handle_mlock: bool = Field(False, description="Lock the LLM in RAM")
    handle_f16_kv: bool = Field(True, description="Keep the KV cache in f16")
    handle_top_k: AtLeastOne = Field(4, description="Passages retrieved per question")
    handle_llm_timeout: Seconds = timeout(20.0, "an LLM stage", "before falling back")
    handle_max_queue: Count = queue(8, "Requests", "the LLM")
    handle_max_text_chars: AtLeastOne = Field(2000, description="Longest transcript accepted")
    handle_answer_timeout: Seconds = deadline(60.0, "a question", "its answer", "the wait for the LLM")
    handle_retrieval_timeout: Seconds = timeout(5.0, "retrieval", "before falling back")
    handle_closest_note: bool = Field(
        False,
        description="When the notes do not answer, also say the closest note (marked as not the answer)",
    )
    handle_breaker_failures: AtLeastOne = Field(3, description="Failures in a row that open a stage's circuit breaker")
    handle_breaker_reset: Seconds = Field(30.0, description="Seconds an open breaker waits before a retry")
    handle_memory_turns: Count = Field(3, description="Turns remembered per conversation_id")
    handle_memory_seconds: Seconds = Field(300.0, description="A conversation is forgotten after this idle time")
    handle_cache_size: Count = Field(256, description="Earlier answers kept for when the LLM is down")
    handle_cache_similarity: float = Field(
        0.9, ge=0, le=1, description="Cosine similarity from which an earlier question counts as the same"
    )
