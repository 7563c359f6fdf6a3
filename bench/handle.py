"""LLM speed through `xnai handle` vs bare llama-cpp-python, and time to first handled-chunk / handled.

    uv run python -m bench.handle [--quick | --spoken] [--repeat N] [--out bench/results/handle.md]

The test documents are indexed into a temporary data dir and one `xnai handle` server is started on
loopback (bundled Gemma 3 270M, same threads/context as the bare run). For each question the server
is asked over Wyoming (a fresh connection, as Home Assistant does); its LLM span (OpenTelemetry, sent to
an in-process collector) tells how many tokens it read and wrote. The bare run then feeds the very same
prompt to a `Llama` of its own in this process and generates the same number of tokens, greedy, streamed.

- server tok/s = output tokens / time to `handled` (retrieval, prompt, queue, streaming and Wyoming included)
- bare tok/s = output tokens / completion time (prompt evaluation + generation, nothing else)
- overhead = server time to `handled` / bare completion time (1.0 = no overhead)

Both take turns question by question so machine load drifts hit both alike. Medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from wyoming.asr import Transcript
from wyoming.client import AsyncClient

from bench.support import DOCS, FACTS, SPOKEN, Collector, Server, load_average, median, table
from wyoming_xnai.settings import HandleSettings, IngestSettings


async def ask_server(uri: str, question: str) -> tuple[float, float, str]:
    """(seconds to first handled-chunk, seconds to handled, text)."""
    async with AsyncClient.from_uri(uri) as client:
        started = time.perf_counter()
        await client.write_event(Transcript(text=question, language="en").event())
        first = float("nan")
        while True:
            event = await client.read_event()
            if event is None:
                raise ConnectionError("server closed the connection")
            if event.type == "handled-chunk" and first != first:
                first = time.perf_counter() - started
            if event.type == "handled":
                return first, time.perf_counter() - started, event.data.get("text", "")
            if event.type == "error":
                raise RuntimeError(event.data)


def bare_run(llama, prompt: str, max_tokens: int, stop: list[str]) -> tuple[float, float, int]:
    """(seconds to first token, seconds total, tokens) for a streamed greedy completion."""
    started = time.perf_counter()
    first = float("nan")
    tokens = 0
    for _chunk in llama.create_completion(
        prompt, max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.1, stop=stop, stream=True
    ):
        tokens += 1
        if first != first:
            first = time.perf_counter() - started
    return first, time.perf_counter() - started, tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 questions, 1 repeat")
    parser.add_argument("--spoken", action="store_true", help="Only the 4 spoken questions (bench/data/docs_facts.jsonl)")
    parser.add_argument("--repeat", type=int, default=2, help="Rounds over the questions")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="Also write the table to this file")
    args = parser.parse_args()
    facts = SPOKEN if args.spoken else FACTS[1::4] if args.quick else FACTS
    repeat = 1 if args.quick else args.repeat

    from llama_cpp import Llama

    from wyoming_xnai.handle.chain import Answerer
    from wyoming_xnai.handle.evidence import assess
    from wyoming_xnai.handle.prompt import STOP, rag_prompt
    from wyoming_xnai.models import gguf_model
    from wyoming_xnai.rag.ingest import ingest

    data_dir = Path(tempfile.mkdtemp(prefix="xnai-bench-handle-"))
    settings = HandleSettings(data_dir=data_dir, models_dir=HandleSettings().models_dir, handle_threads=args.threads)
    ingest([DOCS], IngestSettings(data_dir=data_dir), progress=False)
    model = gguf_model(settings.handle_model, settings.models_dir)
    # the bare side builds prompts with the same retrieval code (no LLM needed for that)
    answerer = Answerer(settings)
    llama = Llama(
        model_path=str(model),
        n_ctx=settings.handle_context_size,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )

    rows = []
    samples: dict[str, list[float]] = {k: [] for k in ("first", "handled", "srv_tps", "bare", "bare_tps", "ratio")}
    with Collector() as collector:
        with Server.xnai(
            "handle",
            *("--data-dir", str(data_dir), "--models-dir", str(settings.models_dir)),
            *("--threads", str(args.threads), "--otlp-endpoint", collector.endpoint, "--llm-timeout", "600"),
        ) as server:
            server.wait()
            asyncio.run(ask_server(server.uri, "What is the capital of France?"))  # warm-up: loads, fills caches
            time.sleep(1.0)
            for _round in range(repeat):
                for fact in facts:
                    before = len(collector.named("text_completion gemma3-270m"))
                    first, handled, text = asyncio.run(ask_server(server.uri, fact.question))
                    deadline = time.monotonic() + 10
                    while len(collector.named("text_completion gemma3-270m")) == before:
                        if time.monotonic() > deadline:
                            raise RuntimeError("no LLM span arrived")
                        time.sleep(0.05)
                    span = collector.named("text_completion gemma3-270m")[-1]["attributes"]
                    if "gen_ai.usage.output_tokens" not in span:
                        print(f"{fact.question}: LLM stage failed, not counted: {text}", file=sys.stderr)
                        continue
                    out_tokens = int(span["gen_ai.usage.output_tokens"])
                    notes, _, lexicon = answerer.retrieve(fact.question)
                    best = assess(fact.question, notes, lexicon)
                    prompt = rag_prompt(fact.question, [best[0].note], []) if best and best[0].supports else ""
                    if not prompt:
                        print(f"{fact.question}: no supporting note, not counted: {text}", file=sys.stderr)
                        continue
                    b_first, b_total, b_tokens = bare_run(llama, prompt, out_tokens, STOP)
                    values = {
                        "first": first,
                        "handled": handled,
                        "srv_tps": out_tokens / handled,
                        "bare": b_total,
                        "bare_tps": b_tokens / b_total,
                        "ratio": handled / b_total,
                    }
                    for key, value in values.items():
                        samples[key].append(value)
                    rows.append(
                        [fact.question, span["gen_ai.usage.input_tokens"], out_tokens, f"{first:.2f}", f"{handled:.2f}",
                         f"{values['srv_tps']:.1f}", f"{b_first:.2f}", f"{b_total:.2f}", f"{values['bare_tps']:.1f}",
                         f"{values['ratio']:.2f}"]
                    )  # fmt: skip
                    print(f"{fact.question}: {text}", file=sys.stderr)
    rows.append(
        ["**median**", "", "", f"{median(samples['first']):.2f}", f"{median(samples['handled']):.2f}",
         f"{median(samples['srv_tps']):.1f}", "", f"{median(samples['bare']):.2f}", f"{median(samples['bare_tps']):.1f}",
         f"**{median(samples['ratio']):.2f}**"]
    )  # fmt: skip
    header = [
        "question", "prompt tok", "answer tok", "server first chunk s", "server handled s", "server tok/s",
        "bare first tok s", "bare total s", "bare tok/s", "overhead",
    ]  # fmt: skip
    report = f"handle: {len(facts)} questions x {repeat}, {args.threads} threads, {load_average()}\n\n"
    report += table(header, rows)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
