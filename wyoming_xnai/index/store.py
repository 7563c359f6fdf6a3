"""The index on disk: immutable version folders and one CURRENT pointer swapped atomically.

    index_dir/CURRENT         name of the live version (replaced with os.replace, after fsync)
    index_dir/v-.../          meta.json (with a sha256 per file), chunks.json, embeddings.npy,
                              vectors.faiss, bm25/, sentences.json + sentence_embeddings.npy: every
                              passage's notes, their contexts (headings, the sentence they lean on)
                              and the vectors of note with context, so answering a question embeds
                              only the question
    index_dir/.staging-.../   a version being written; ignored and cleaned up if a crash left it

A crash at any point leaves CURRENT naming a complete, checksummed version, so readers never see a
half-written index. Readers verify the checksums before handing files to FAISS or bm25s.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wyoming_xnai.errors import UserError

FORMAT = 3  # 3: notes are document units (rag/outline.py) stored with their contexts; vectors embed both
CURRENT = "CURRENT"
META = "meta.json"
CHUNKS = "chunks.json"
EMBEDDINGS = "embeddings.npy"
VECTORS = "vectors.faiss"
BM25 = "bm25"
SENTENCES = "sentences.json"
SENTENCE_EMBEDDINGS = "sentence_embeddings.npy"


class IndexUnavailable(Exception):
    """No usable index: missing, corrupt, or built with another embedder (one-line reason)."""


@dataclass
class Version:
    """One complete index version as stored: chunk texts, their sources, their embeddings, metadata."""

    path: Path
    meta: dict
    texts: list[str]
    sources: list[str]

    def embeddings(self) -> np.ndarray:
        return np.load(self.path / EMBEDDINGS, mmap_mode="r", allow_pickle=False)

    def sentences(self) -> Sentences:
        """The stored note sentences of every passage, with their vectors."""
        data = json.loads((self.path / SENTENCES).read_text())
        vectors = np.load(self.path / SENTENCE_EMBEDDINGS, mmap_mode="r", allow_pickle=False)
        return Sentences(data["texts"], np.asarray(data["chunks"], dtype=np.int64), vectors, data["contexts"])


@dataclass
class Sentences:
    """Notes of all passages, grouped by passage (`chunks` ascending), with their embeddings and contexts."""

    texts: list[str]
    chunks: np.ndarray  # passage index of each note
    vectors: np.ndarray  # (len(texts), dim): each note embedded with its context
    contexts: list[str]

    def of(self, chunk: int) -> tuple[list[str], np.ndarray, list[str]]:
        lo, hi = np.searchsorted(self.chunks, [chunk, chunk + 1])
        return self.texts[lo:hi], np.asarray(self.vectors[lo:hi]), self.contexts[lo:hi]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != META)


def current_path(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        raise IndexUnavailable(f"no index at {index_dir}: run `xnai ingest PATH...` first") from None
    except OSError as err:
        raise IndexUnavailable(f"cannot read {pointer}: {err.strerror}") from None
    if not name.startswith("v-") or "/" in name or not (index_dir / name).is_dir():
        raise IndexUnavailable(
            f"index at {index_dir} is corrupt (CURRENT names a missing version): run `xnai ingest --rebuild PATH...`"
        )
    return index_dir / name


def read_version(index_dir: Path) -> Version:
    """The live version, checksums verified; IndexUnavailable if anything is off."""
    path = current_path(index_dir)
    corrupt = f"index at {index_dir} is corrupt"
    fix = "run `xnai ingest --rebuild PATH...`"
    try:
        meta = json.loads((path / META).read_text())
        if meta.get("format") != FORMAT:
            raise IndexUnavailable(
                f"index at {index_dir} has format {meta.get('format')}, this xnai reads {FORMAT}: {fix}"
            )
        for name, digest in meta["files"].items():
            file = path / name
            if not file.is_file() or _sha256(file) != digest:
                raise IndexUnavailable(f"{corrupt} ({name} is missing or damaged): {fix}")
        chunks = json.loads((path / CHUNKS).read_text())
        texts, sources = chunks["texts"], chunks["sources"]
        if len(texts) != meta["count"] or len(sources) != meta["count"]:
            raise IndexUnavailable(f"{corrupt} (chunk count mismatch): {fix}")
    except IndexUnavailable:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise IndexUnavailable(f"{corrupt} ({type(err).__name__}: {err}): {fix}") from None
    return Version(path, meta, texts, sources)


class Writer:
    """Writes one new version into a staging folder; `commit()` makes it live atomically."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        index_dir.mkdir(parents=True, exist_ok=True)
        self.name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.staging = index_dir / f".staging-{self.name}"
        self.staging.mkdir()

    def write_chunks(self, texts: list[str], sources: list[str]) -> None:
        (self.staging / CHUNKS).write_text(json.dumps({"texts": texts, "sources": sources}, ensure_ascii=False))

    def write_embeddings(self, embeddings: np.ndarray) -> None:
        np.save(self.staging / EMBEDDINGS, np.ascontiguousarray(embeddings, dtype=np.float32), allow_pickle=False)

    def write_sentences(self, texts: list[str], chunks: list[int], embeddings: np.ndarray, contexts: list[str]) -> None:
        data = {"texts": texts, "chunks": chunks, "contexts": contexts}
        (self.staging / SENTENCES).write_text(json.dumps(data, ensure_ascii=False))
        np.save(
            self.staging / SENTENCE_EMBEDDINGS, np.ascontiguousarray(embeddings, dtype=np.float32), allow_pickle=False
        )

    def folder(self, name: str) -> Path:
        folder = self.staging / name
        folder.mkdir(exist_ok=True)
        return folder

    def file(self, name: str) -> Path:
        return self.staging / name

    def commit(self, meta: dict) -> Path:
        """Checksum and fsync everything, move the folder into place, then swap CURRENT."""
        files = _files(self.staging)
        meta = {**meta, "format": FORMAT, "files": {str(p.relative_to(self.staging)): _sha256(p) for p in files}}
        (self.staging / META).write_text(json.dumps(meta, indent=1, ensure_ascii=False))
        for p in [*files, self.staging / META]:
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        for folder in {p.parent for p in files} | {self.staging}:
            _fsync_dir(folder)
        final = self.index_dir / self.name
        os.replace(self.staging, final)
        tmp = self.index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        with open(tmp, "w") as f:
            f.write(self.name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.index_dir / CURRENT)
        _fsync_dir(self.index_dir)
        return final

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def clean(index_dir: Path) -> None:
    """Remove every version but the live one, and leftovers of crashed writes."""
    try:
        live = current_path(index_dir).name
    except IndexUnavailable:
        live = None
    for entry in index_dir.iterdir():
        if entry.name == live or entry.name in (CURRENT, ".lock"):
            continue
        if entry.name.startswith(("v-", ".staging-")) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(f".{CURRENT}."):
            entry.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(index_dir: Path) -> Iterator[None]:
    """One writer at a time (readers need no lock: versions are immutable)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another `xnai ingest` is writing {index_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
