"""The document index: the embedder that builds and queries it, and how `xnai ingest` cuts and stores it.

The handle server must query the index with the embedder that built it, so both read `EmbedSettings`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wyoming_xnai.settings.fields import AtLeastOne, Count
from wyoming_xnai.settings.section import Section
from wyoming_xnai.settings.server import PathSettings


class EmbedSettings(Section):
    """The embedding model of the documents and the questions."""

    prefix = "handle"

    handle_embedder: Literal["onnx", "sentence-transformers"] = Field(
        "onnx", description="Embedding backend (sentence-transformers needs the extra)"
    )
    handle_embed_threads: Count = Field(
        1, description="onnxruntime threads per query embedding (0 = all cores; ingest uses all)"
    )


class IngestSettings(EmbedSettings, PathSettings):
    """`xnai ingest`: how documents are cut into passages and indexed in the data dir."""

    prefix = "handle"

    handle_chunk_words: int = Field(80, ge=10, le=180, description="Ingest: words per passage (MiniLM reads ~180)")
    handle_chunk_overlap: Count = Field(20, description="Ingest: words repeated from the previous passage")
    handle_hnsw_threshold: AtLeastOne = Field(
        20_000, description="Ingest: passages from which FAISS HNSW replaces exact search"
    )
