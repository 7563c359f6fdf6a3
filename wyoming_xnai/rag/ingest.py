"""`xnai ingest PATH...`: index documents for the handle server, incrementally and atomically.

Unchanged files (same sha256, same chunking, same embedder) keep their stored passages and embeddings;
changed files are re-read; files gone from a named folder (or from disk) disappear. The FAISS and BM25
indexes are rebuilt from the stored embeddings (cheap), written as a new version and swapped in at once.
Each passage's notes (rag/outline.py) are embedded here too, each with its context (the handle server
ranks them for the prompt), so answering embeds only the question.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from wyoming_xnai.errors import UserError
from wyoming_xnai.index import store
from wyoming_xnai.index.embed import Embedder, load_embedder
from wyoming_xnai.index.lexical import Lexical
from wyoming_xnai.index.vectors import build_index
from wyoming_xnai.rag.chunking import Chunk, chunk_document
from wyoming_xnai.rag.documents import DocumentError, Found, find_documents, parse_document, read_document
from wyoming_xnai.rag.outline import with_context
from wyoming_xnai.settings import IngestSettings
from wyoming_xnai.vocabulary import write_document_terms

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    chunks: int = 0
    documents: int = 0
    vector_index: str = "flat"
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"indexed {self.documents} documents, {self.chunks} passages ({self.vector_index}): "
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed, in {self.seconds:.1f} s"
        )


@dataclass
class Doc:
    """One document's passages as they go into a version: kept as-is when its file is unchanged."""

    sha256: str
    texts: list[str]
    embeddings: np.ndarray
    sentences: list[list[str]]  # notes of each passage (rag/outline.py)
    sentence_embeddings: np.ndarray  # their embeddings (each note with its context), in that order
    contexts: list[list[str]]  # each note's context


def embed_doc(sha256: str, chunks: list[Chunk], embedder: Embedder) -> Doc:
    """A document's passages and their notes, embedded in one go (the batches sort by length)."""
    texts = [c.text for c in chunks]
    flat = [with_context(n) for c in chunks for n in c.notes]
    rows = embedder.embed(texts + flat) if texts else np.zeros((0, embedder.dim), np.float32)
    sentences = [[n.text for n in c.notes] for c in chunks]
    contexts = [[n.context for n in c.notes] for c in chunks]
    return Doc(sha256, texts, rows[: len(texts)], sentences, rows[len(texts) :], contexts)




def _previous(settings: IngestSettings, embedder: Embedder, chunking: dict) -> tuple[dict[str, Doc], dict]:
    """Stored documents that can be reused (same embedder and chunking, else none), and the stored meta."""
    try:
        version = store.read_version(settings.index_dir)
    except store.IndexUnavailable as err:
        if (settings.index_dir / store.CURRENT).exists():
            raise UserError(f"{err} (or delete {settings.index_dir})") from None
        return {}, {}
    meta = version.meta
    if meta.get("embedder") != embedder.name or meta.get("chunking") != chunking:
        log.info("embedder or chunking changed: every document is read again")
        return {}, {}
    embeddings = np.asarray(version.embeddings())
    stored = version.sentences()
    docs = {}
    for source, doc in meta["documents"].items():
        lo, hi = doc["first"], doc["first"] + doc["count"]
        groups = [stored.of(i) for i in range(lo, hi)]
        vectors = np.concatenate([v for _, v, _ in groups] or [np.zeros((0, embedder.dim), np.float32)])
        docs[source] = Doc(
            doc["sha256"],
            version.texts[lo:hi],
            embeddings[lo:hi],
            [t for t, _, _ in groups],
            vectors.reshape(-1, embedder.dim),
            [c for _, _, c in groups],
        )
    return docs, meta


def _kept_from_before(
    previous: dict[str, Doc], found: list[Found], roots: set[Path], report: IngestReport
) -> dict[str, Doc]:
    """Documents indexed earlier from elsewhere stay while their file exists; under a named folder,
    only what was found now stays (and is read again by `_read_one`)."""
    docs: dict[str, Doc] = {}
    found_now = {str(f.path) for f in found}
    for source, doc in previous.items():
        path = Path(source)
        under_named = any(path == r or path.is_relative_to(r) for r in roots)
        if not under_named and path.is_file():
            docs[source] = doc
        elif not under_named or source not in found_now:
            report.removed.append(source)
    return docs


def _read_one(
    item: Found, previous: dict[str, Doc], chunking: dict, embedder: Embedder, report: IngestReport
) -> Doc | None:
    """One found document: reused when its file is unchanged, else parsed, chunked and embedded; None
    (reported as failed) when it cannot be read."""
    source = str(item.path)
    try:
        data, digest = read_document(item)
        old = previous.get(source)
        if old is not None and old.sha256 == digest:
            report.unchanged.append(source)
            return old
        chunks = chunk_document(parse_document(item.path, data), **chunking)
    except (DocumentError, OSError) as err:
        reason = str(err) if isinstance(err, DocumentError) else (err.strerror or str(err))
        log.warning("skipping %s: %s", item.path, reason)
        report.failed.append((source, reason))
        if source in previous:
            report.removed.append(source)
        return None
    doc = embed_doc(digest, chunks, embedder)
    (report.updated if source in previous else report.added).append(source)
    return doc


def ingest(
    paths: Sequence[Path],
    settings: IngestSettings,
    rebuild: bool = False,
    progress: bool = True,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Index `paths` (files or folders) into settings.index_dir; returns what changed."""
    started = time.monotonic()
    found, refused = find_documents([Path(p) for p in paths])
    missing = [f"{p} ({why})" for p, why in refused if why == "does not exist"]
    if missing:
        raise UserError(f"not found: {', '.join(missing)}")
    report = IngestReport(failed=[(str(p), why) for p, why in refused])
    embedder = embedder or load_embedder(settings, threads=0)
    chunking = {"max_words": settings.handle_chunk_words, "overlap_words": settings.handle_chunk_overlap}
    roots = {f.root for f in found} | {Path(p).expanduser().resolve() for p in paths}
    with store.locked(settings.index_dir):
        previous, meta = ({}, {}) if rebuild else _previous(settings, embedder, chunking)
        docs = _kept_from_before(previous, found, roots, report)
        bar = tqdm(found, desc="indexing", unit="file", disable=None if progress else True, file=sys.stderr)
        for item in bar:
            bar.set_postfix_str(item.path.name[-30:], refresh=False)
            doc = _read_one(item, previous, chunking, embedder, report)
            if doc is not None:
                docs[str(item.path)] = doc
        bar.close()
        unchanged = (
            previous
            and docs.keys() == previous.keys()
            and len(report.unchanged) == len(found)
            and meta.get("hnsw_threshold") == settings.handle_hnsw_threshold
        )
        if unchanged:  # nothing to write: the live version stays
            report.chunks = meta["count"]
            info = meta["vector_index"]
            report.vector_index = info["kind"] if info["kind"] == "flat" else f"hnsw efSearch={info['ef_search']}"
        else:
            write_version(settings, embedder, chunking, docs, report, progress)
        store.clean(settings.index_dir)
    report.documents = len(docs)
    report.seconds = time.monotonic() - started
    return report


def write_version(
    settings: IngestSettings,
    embedder: Embedder,
    chunking: dict,
    docs: dict[str, Doc],
    report: IngestReport,
    progress: bool,
) -> None:
    """Build FAISS and BM25 over `docs` and commit them as the new live version (caller holds the lock)."""
    texts: list[str] = []
    sources: list[str] = []
    documents: dict[str, dict] = {}
    parts = []
    sentence_texts: list[str] = []
    sentence_chunks: list[int] = []
    sentence_contexts: list[str] = []
    sentence_parts = []
    for source in sorted(docs):
        doc = docs[source]
        documents[source] = {"sha256": doc.sha256, "first": len(texts), "count": len(doc.texts)}
        for offset, (group, contexts) in enumerate(zip(doc.sentences, doc.contexts, strict=True)):
            sentence_texts.extend(group)
            sentence_contexts.extend(contexts)
            sentence_chunks.extend([len(texts) + offset] * len(group))
        sentence_parts.append(doc.sentence_embeddings.reshape(-1, embedder.dim))
        texts.extend(doc.texts)
        sources.extend([source] * len(doc.texts))
        parts.append(doc.embeddings.reshape(-1, embedder.dim))
    embeddings = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    if progress and len(texts) >= settings.handle_hnsw_threshold:
        print(f"building the HNSW index over {len(texts)} passages...", file=sys.stderr)
    vectors, info = build_index(embeddings, settings.handle_hnsw_threshold)
    writer = store.Writer(settings.index_dir)
    try:
        writer.write_chunks(texts, sources)
        writer.write_embeddings(embeddings)
        rows = np.concatenate(sentence_parts) if sentence_parts else np.zeros((0, embedder.dim), np.float32)
        writer.write_sentences(sentence_texts, sentence_chunks, rows, sentence_contexts)
        faiss.write_index(vectors, str(writer.file(store.VECTORS)))
        Lexical.build(texts).save(writer.folder(store.BM25))
        writer.commit(
            {
                "embedder": embedder.name,
                "dim": embedder.dim,
                "chunking": chunking,
                "hnsw_threshold": settings.handle_hnsw_threshold,
                "count": len(texts),
                "sentences": len(sentence_texts),
                "vector_index": asdict(info),
                "documents": documents,
            }
        )
    except BaseException:
        writer.abort()
        raise
    write_document_terms(settings.data_dir, texts)  # the ASR favours the documents' names (wyoming_xnai/vocabulary.py)
    report.chunks = len(texts)
    report.vector_index = info.kind if info.kind == "flat" else f"hnsw efSearch={info.ef_search}"


def main(settings: IngestSettings, args: argparse.Namespace) -> int:
    try:
        report = ingest([Path(p) for p in args.paths], settings, rebuild=args.rebuild)
    except OSError as err:  # unreadable documents are skipped inside ingest(); this is the index write
        detail = err.strerror or str(err)
        raise UserError(
            f"writing the index in {settings.index_dir} failed: {detail} (is the disk full?); "
            "the previous index is unchanged"
        ) from None
    for path, reason in report.failed:
        print(f"xnai: skipped {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0
