"""Search the indexed documents: dense (FAISS over MiniLM) and keyword (BM25) results, fused by rank."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from wyoming_xnai.index import store
from wyoming_xnai.index.embed import Embedder
from wyoming_xnai.index.lexical import Lexical
from wyoming_xnai.index.store import IndexUnavailable
from wyoming_xnai.index.vectors import VectorIndexInfo, set_ef_search
from wyoming_xnai.text.words import DAYS, MONTHS, NUMBER_WORDS, content_words, facts, has_digit, stem, tokens

__all__ = ["IndexUnavailable", "KnowledgeBase", "Passage"]

log = logging.getLogger(__name__)

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009); robust without score calibration
CANDIDATES = 20  # per retriever, before fusion
WORD_VECTORS = 20_000  # single-word vectors kept (about 30 MB at 384 dimensions)


@dataclass(frozen=True)
class Passage:
    text: str
    source: str  # absolute path of the document it came from
    score: float  # fused rank score: only for ordering
    similarity: float = 0.0  # cosine similarity to the question (-1..1): usable as a relevance threshold
    index: int = -1  # the passage's position in the index version (its stored sentences belong to it)


class KnowledgeBase:
    """A loaded index version; immutable, so searches from several threads need no lock."""

    def __init__(self, version: store.Version, vectors: faiss.Index, lexical: Lexical, embedder: Embedder) -> None:
        self._version = version
        self._texts = version.texts
        self._sources = version.sources
        self._embeddings = version.embeddings()
        self._vectors = vectors
        self._lexical = lexical
        self._embedder = embedder
        self.info = VectorIndexInfo(**version.meta["vector_index"])
        self._sentences = version.sentences()
        self._word_vectors: dict[str, np.ndarray] = {}
        self._word_lock = threading.Lock()

    @classmethod
    def open(cls, index_dir: Path, embedder: Embedder) -> KnowledgeBase:
        """Load the live version; IndexUnavailable for missing, corrupt or other-embedder indexes."""
        # One query is too small to split across threads: OpenMP only adds wake-up latency (measured 0.4 ms
        # single-threaded vs 12 ms with 2 threads at 10k passages on a busy 2-core box) and fights the LLM.
        faiss.omp_set_num_threads(1)
        for _ in range(3):
            before = cls.live_version(index_dir)
            try:
                return cls._load(index_dir, embedder)
            except IndexUnavailable:
                # an ingest that committed meanwhile may have removed the version being read: read the new one
                if before is None or cls.live_version(index_dir) == before:
                    raise
        return cls._load(index_dir, embedder)

    @classmethod
    def _load(cls, index_dir: Path, embedder: Embedder) -> KnowledgeBase:
        version = store.read_version(index_dir)
        meta = version.meta
        if meta.get("embedder") != embedder.name or meta.get("dim") != embedder.dim:
            raise IndexUnavailable(
                f"index at {index_dir} was built with embedder {meta.get('embedder')} ({meta.get('dim')} dims), "
                f"not {embedder.name} ({embedder.dim} dims): run `xnai ingest --rebuild PATH...`"
            )
        try:
            vectors = faiss.read_index(str(version.path / store.VECTORS))
            info = VectorIndexInfo(**meta["vector_index"])
            set_ef_search(vectors, info)
            lexical = Lexical.load(version.path / store.BM25, meta["count"])
            kb = cls(version, vectors, lexical, embedder)
        except Exception as err:  # checksums passed, so this is a format problem: same advice
            raise IndexUnavailable(
                f"index at {index_dir} cannot be loaded ({type(err).__name__}: {err}): run `xnai ingest --rebuild PATH...`"
            ) from None
        if vectors.ntotal != meta["count"] or kb._embeddings.shape != (meta["count"], embedder.dim):
            raise IndexUnavailable(f"index at {index_dir} is inconsistent: run `xnai ingest --rebuild PATH...`")
        sent = kb._sentences
        if sent.vectors.shape != (len(sent.texts), embedder.dim) or len(sent.chunks) != len(sent.texts):
            raise IndexUnavailable(f"index at {index_dir} is inconsistent: run `xnai ingest --rebuild PATH...`")
        log.info("knowledge base: %d passages from %d documents (%s)", len(kb), len(kb.sources), info.kind)
        return kb

    @staticmethod
    def live_version(index_dir: Path) -> str | None:
        """Name of the version on disk now (cheap: one small file), None if there is none.

        A server compares it with `kb.version` to notice a finished `xnai ingest` and reopen.
        """
        try:
            return store.current_path(index_dir).name
        except IndexUnavailable:
            return None

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def version(self) -> str:
        """Name of the loaded version: changes when `xnai ingest` commits a new one."""
        return self._version.path.name

    @property
    def sources(self) -> list[str]:
        return sorted(self._version.meta["documents"])

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every content word (stem) the documents use: a question's word outside it is the asker's own."""
        return frozenset(w for text in self._texts for w in content_words(text))

    @cached_property
    def names(self) -> frozenset[str]:
        """Stems of the names the documents use: words they capitalise inside a sentence ("Juniper",
        "Volvo") and never write in lower case, in any form (a heading's "Boiler" is the boiler, "Oakhill Vets" does not make "vet" a name)."""
        common = {stem(w) for w in DAYS | MONTHS | NUMBER_WORDS}
        lower = {stem(w) for text in self._texts for w in tokens(text) if w.islower()}
        return frozenset(
            stem(f)
            for text in self._sentences.texts
            for f in facts(text)
            if not has_digit(f) and stem(f) not in common and stem(f) not in lower
        )

    def embed_query(self, query: str) -> np.ndarray:
        """The query's unit vector (blocking), for `search(..., query_vec=)` and for comparing questions."""
        return self._embedder.embed([query])[0]

    def search(self, query: str, k: int, query_vec: np.ndarray | None = None) -> list[Passage]:
        """The k best passages for `query`, best first (blocking: embeds the query unless `query_vec` is given)."""
        if not query.strip() or not self._texts or k < 1:
            return []
        q = (self._embedder.embed([query]) if query_vec is None else query_vec.reshape(1, -1)).astype(np.float32)
        n = min(max(CANDIDATES, 2 * k), len(self._texts))
        _, dense_ids = self._vectors.search(q, n)
        fused: dict[int, float] = {}
        for rank, i in enumerate(int(i) for i in dense_ids[0] if i >= 0):
            fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, (i, _) in enumerate(self._lexical.search(query, n)):
            fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused.items(), key=lambda item: -item[1])[:k]
        sims = np.asarray(self._embeddings[[i for i, _ in best]]) @ q[0] if best else []
        return [
            Passage(self._texts[i], self._sources[i], score, float(sim), i)
            for (i, score), sim in zip(best, sims, strict=True)
        ]

    def sentences(self, passages: list[Passage]) -> list[tuple[list[str], np.ndarray, list[str]]]:
        """Each passage's notes (`outline`, stored by ingest), their unit vectors and their contexts."""
        return [self._sentences.of(p.index) for p in passages]

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """Unit vectors of single words (blocking), kept for the next question: the documents' words recur."""
        with self._word_lock:
            new = [w for w in dict.fromkeys(words) if w not in self._word_vectors]
            if new:
                if len(self._word_vectors) + len(new) > WORD_VECTORS:
                    self._word_vectors.clear()
                self._word_vectors.update(zip(new, self._embedder.embed(new), strict=True))
            return np.stack([self._word_vectors[w] for w in words]) if words else np.zeros((0, self._embedder.dim))

    def nearest_notes(self, query_vec: np.ndarray, k: int) -> list[tuple[str, str, np.ndarray, str]]:
        """The k notes closest in meaning to the query over all documents, best first, as (source, note,
        its vector, its context): a note whose passage the search ranks low can still be the answer."""
        sent = self._sentences
        if not len(sent.texts) or k < 1:
            return []
        vectors = np.asarray(sent.vectors)
        best = np.argsort(-(vectors @ query_vec.astype(np.float32)))[:k]
        return [(self._sources[int(sent.chunks[i])], sent.texts[i], vectors[i], sent.contexts[i]) for i in best]
