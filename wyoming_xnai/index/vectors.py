"""Dense vector search with FAISS: exact inner product for small collections, HNSW for large ones.

HNSW's recall depends on efSearch and on the data, so efSearch is tuned at build time on the collection
itself: the smallest value whose recall@5 against exact search reaches the target on sampled queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

HNSW_M = 32
EF_CONSTRUCTION = 80
EF_CANDIDATES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


@dataclass(frozen=True)
class VectorIndexInfo:
    kind: str  # "flat" (exact) or "hnsw"
    ef_search: int = 0
    recall_at_5: float = 1.0  # measured against exact search at build time


def exact_index(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def hnsw_index(vectors: np.ndarray, m: int = HNSW_M, ef_construction: int = EF_CONSTRUCTION) -> faiss.IndexHNSWFlat:
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def sample_queries(vectors: np.ndarray, n: int = 200, seed: int = 0) -> np.ndarray:
    """Query-like points: midpoints of random pairs of stored vectors plus noise, renormalised.

    Stored vectors themselves would be too easy (each finds itself); these sit between documents,
    as real questions do.
    """
    rng = np.random.default_rng(seed)
    a = vectors[rng.integers(0, len(vectors), n)]
    b = vectors[rng.integers(0, len(vectors), n)]
    q = a + b + rng.normal(0, 0.5 / np.sqrt(vectors.shape[1]), size=a.shape).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def recall_at_k(index: faiss.Index, exact: faiss.Index, queries: np.ndarray, k: int = 5) -> float:
    """Share of the exact top-k found in the index's top-k."""
    k = min(k, exact.ntotal)
    _, truth = exact.search(queries, k)
    _, got = index.search(queries, k)
    hits = sum(len(set(t) & set(g)) for t, g in zip(truth.tolist(), got.tolist(), strict=True))
    return hits / truth.size


def tune_ef_search(
    index: faiss.IndexHNSWFlat, vectors: np.ndarray, target: float = 0.99, k: int = 5, queries: np.ndarray | None = None
) -> float:
    """Set the smallest efSearch reaching `target` recall@k; returns the recall measured with it."""
    queries = sample_queries(vectors) if queries is None else queries
    exact = exact_index(vectors)
    recall = 0.0
    for ef in EF_CANDIDATES:
        index.hnsw.efSearch = max(ef, k)
        recall = recall_at_k(index, exact, queries, k)
        if recall >= target:
            break
    return recall


def build_index(
    vectors: np.ndarray, hnsw_threshold: int, target_recall: float = 0.99
) -> tuple[faiss.Index, VectorIndexInfo]:
    """Exact search below `hnsw_threshold` vectors (fast enough and perfect), tuned HNSW above."""
    if len(vectors) < hnsw_threshold:
        return exact_index(vectors), VectorIndexInfo("flat")
    index = hnsw_index(vectors)
    recall = tune_ef_search(index, vectors, target_recall)
    return index, VectorIndexInfo("hnsw", index.hnsw.efSearch, recall)


def set_ef_search(index: faiss.Index, info: VectorIndexInfo) -> None:
    """efSearch is not always kept by write_index/read_index: set it again after loading."""
    if info.kind == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = info.ef_search
