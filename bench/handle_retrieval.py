"""Retrieval benchmark: latency and recall@5 of HNSW against exact search at 1k, 10k and 100k passages.

    uv run python -m bench.handle_retrieval            # 1k, 10k, 100k (~10 min on 2 busy cores: HNSW build)
    uv run python -m bench.handle_retrieval --quick    # 1k and 10k, fewer queries (~1 min)

Scaling rows use synthetic vectors (clustered unit vectors shaped like MiniLM embeddings: each passage
near a topic centre) and synthetic texts, because embedding 100k real passages takes ~10 min here.
The "real" row embeds generated household sentences with the real MiniLM model. HNSW is built exactly
as `xnai ingest` builds it (M=32, efConstruction=80, efSearch tuned on sampled queries to recall 0.99);
recall@5 is then measured on a separate query set. "search" is `KnowledgeBase.search` end to end: query
embedding with MiniLM + FAISS + BM25 + rank fusion, through an index written to disk and loaded back.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from wyoming_xnai.index.embed import OnnxMiniLM
from wyoming_xnai.index.knowledge import KnowledgeBase
from wyoming_xnai.index.vectors import (
    EF_CONSTRUCTION,
    HNSW_M,
    exact_index,
    hnsw_index,
    recall_at_k,
    tune_ef_search,
)
from wyoming_xnai.rag.ingest import Doc, IngestReport, write_version
from wyoming_xnai.settings import IngestSettings

DIM = 384
WORDS = (
    "boiler kettle garage shed ladder pantry gate tap fuse meter cupboard stairs attic dog cat vet router car tyre "
    "insurance bins recycling thermostat radiator window roof gutter hedge lawn mower bicycle piano oven fridge "
    "freezer dishwasher washing machine dryer alarm battery key lock door hall study kitchen utility landing"
).split()


def clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around n/40 topic centres; neighbours have cosine ~0.5-0.8 as MiniLM passages do."""
    centres = rng.normal(size=(max(n // 40, 1), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.05, (n, DIM)).astype(np.float32)
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def queries_for(vectors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Questions land near passages but not on them."""
    q = vectors[rng.integers(0, len(vectors), n)] + rng.normal(0, 0.06, (n, DIM)).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def texts_for(n: int, rng: np.random.Generator) -> list[str]:
    """80-word passages over a 20,000-word Zipfian vocabulary: BM25 postings shaped like real text."""
    vocab = WORDS + [f"w{i}" for i in range(20_000 - len(WORDS))]
    ranks = np.minimum(rng.zipf(1.2, size=(n, 80)), len(vocab)) - 1
    return [" ".join(vocab[r] for r in row) for row in ranks]


def real_sentences(n: int, rng: np.random.Generator) -> list[str]:
    subjects = ["the " + w for w in WORDS[:30]]
    verbs = "is serviced|is checked|is cleaned|is locked|is fed|is repaired|is moved|is emptied|is reset".split("|")
    whens = "every Monday|in March|before winter|after dinner|at seven|twice a year|when it rains|at the weekend"
    wheres = "in the hall|behind the house|in the garage|by the gate|upstairs|in the utility room|in the study"
    out = {
        f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(whens.split('|'))} "
        f"{rng.choice(wheres.split('|'))}."
        for _ in range(n * 3)
    }
    return sorted(out)[:n]


def per_query_ms(search, queries: np.ndarray, k: int = 5) -> tuple[float, float]:
    times = []
    for q in queries:
        t = time.perf_counter()
        search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def end_to_end_ms(vectors: np.ndarray, texts: list[str], embedder: OnnxMiniLM, questions: list[str]) -> float:
    """Median KnowledgeBase.search latency through an index written and loaded like the real one
    (write_version builds its vector index again, as ingest would: flat below 20,000 passages, else HNSW)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = IngestSettings(data_dir=Path(tmp), handle_hnsw_threshold=20_000)
        empty = np.zeros((0, vectors.shape[1]), np.float32)  # search only: no note sentences needed
        docs = {
            f"/bench/doc{i // 100:05}.txt": Doc(
                f"{i}", texts[i : i + 100], vectors[i : i + 100], [[] for _ in texts[i : i + 100]], empty
            )
            for i in range(0, len(texts), 100)
        }
        chunking = {"max_words": 80, "overlap_words": 20}
        write_version(settings, embedder, chunking, docs, IngestReport(), False)
        kb = KnowledgeBase.open(settings.index_dir, embedder)
        kb.search(questions[0], 4)
        times = []
        for question in questions:
            t = time.perf_counter()
            kb.search(question, 4)
            times.append((time.perf_counter() - t) * 1000)
        return float(np.median(times))


BUILD_THREADS = faiss.omp_get_max_threads()


def row(name: str, vectors: np.ndarray, queries: np.ndarray, texts: list[str], embedder, questions) -> str:
    faiss.omp_set_num_threads(BUILD_THREADS)  # bulk work uses every core, as ingest does
    t = time.perf_counter()
    exact = exact_index(vectors)
    hnsw = hnsw_index(vectors)
    build_s = time.perf_counter() - t
    hnsw.hnsw.efSearch = 16
    low_recall = recall_at_k(hnsw, exact, queries, 5)
    tune_ef_search(hnsw, vectors, 0.99)  # on sampled queries, as ingest does
    ef = hnsw.hnsw.efSearch
    recall = recall_at_k(hnsw, exact, queries, 5)  # on a separate query set
    faiss.omp_set_num_threads(1)  # single queries, as KnowledgeBase does
    exact_p50, exact_p95 = per_query_ms(exact.search, queries)
    hnsw_p50, hnsw_p95 = per_query_ms(hnsw.search, queries)
    kind = "flat" if len(vectors) < 20_000 else "hnsw"  # what ingest would pick
    e2e = end_to_end_ms(vectors, texts, embedder, questions)
    return (
        f"| {name} | {len(vectors):,} | {exact_p50:.2f} / {exact_p95:.2f} | {hnsw_p50:.2f} / {hnsw_p95:.2f} | "
        f"{ef} | {recall:.3f} | {low_recall:.3f} | {build_s:.1f} | {e2e:.1f} ({kind}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1k and 10k only, 100 queries")
    parser.add_argument("--sizes", type=int, nargs="*", help="passage counts (default 1000 10000 100000)")
    parser.add_argument("--queries", type=int, default=300, help="queries per size")
    args = parser.parse_args()
    sizes = args.sizes or ([1000, 10_000] if args.quick else [1000, 10_000, 100_000])
    n_queries = 100 if args.quick else args.queries
    rng = np.random.default_rng(0)
    embedder = OnnxMiniLM(threads=1)  # as the handle server embeds queries (handle_embed_threads)
    questions = [
        f"When is the {a} {b} checked?" for a, b in zip(rng.choice(WORDS, 20), rng.choice(WORDS, 20), strict=True)
    ]

    print(f"HNSW M={HNSW_M}, efConstruction={EF_CONSTRUCTION}; k=5; latency per single query, ms p50 / p95\n")
    print(
        "| data | passages | exact ms | HNSW ms | tuned efSearch | recall@5 | recall@5 at efSearch 16 | HNSW build s | search ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    real_n = 1000 if args.quick else 3000
    sentences = real_sentences(real_n, rng)
    vectors = embedder.embed(sentences)
    real_queries = embedder.embed(
        [f"When is {s.split(' is ')[0].lower()} {s.split(' ')[-2]}?" for s in sentences[:n_queries]]
    )
    print(row("real MiniLM", vectors, real_queries, sentences, embedder, questions), flush=True)
    for n in sizes:
        vectors = clustered(n, rng)
        print(
            row("synthetic", vectors, queries_for(vectors, n_queries, rng), texts_for(n, rng), embedder, questions),
            flush=True,
        )
    times = []
    for question in questions:
        t = time.perf_counter()
        embedder.embed([question])
        times.append((time.perf_counter() - t) * 1000)
    print(f"\nquery embedding alone (MiniLM int8, 1 thread): {np.median(times):.1f} ms p50")
    print(
        "search = KnowledgeBase.search end to end (MiniLM query embedding + FAISS + BM25 + fusion); "
        "ingest uses exact search below 20,000 passages (--hnsw-threshold)."
    )


if __name__ == "__main__":
    main()
