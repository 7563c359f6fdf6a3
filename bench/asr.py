"""ASR accuracy and latency: xnai's configurations side by side with wyoming-faster-whisper 3.8.1.

Every server runs at once and gets every clip in turn (interleaved, so background load hits all alike),
sent as a satellite sends it (64 ms chunks, then audio-stop). Latency is audio-stop -> `transcript`.

Speech: everyday requests, each spoken by two of four voices (three espeak-ng voices at different speeds
and the bundled Piper voice); long dictations (10-20 s); questions about household documents (full of
names: bench/asr_texts.py), by espeak-ng and Piper in turn.
Every clip also comes noisy: reverberated by sox and mixed with pink noise at 10 dB SNR.

Configurations: model x beam size x window (the encoder window for short utterances: fitted to the audio
plus `--window-margin`, or at least `--window` seconds); the
vocabulary hint (the documents' words, as `xnai ingest` writes them) on the default configuration; the
reference at its own defaults (beam 5, the model's own compute type, 4 threads) and at the default's
settings, both with the same model files. The default is the most accurate configuration whose
median latency on requests stays under `--budget` seconds.

    uv run python -m bench.asr [--quick] [--budget 0.3]
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient

from bench.asr_texts import DICTATIONS, DOCS, DOMAIN, GENERAL
from bench.support import Server, load_average, median, piper_speech, table, word_errors
from wyoming_xnai.models import whisper_model
from wyoming_xnai.rag.documents import document_text, find_documents
from wyoming_xnai.settings import PathSettings
from wyoming_xnai.vocabulary import document_terms_file, write_document_terms

CHUNK_BYTES = 2048  # 64 ms at 16 kHz, what a satellite streams
RAW = ["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw"]
ESPEAK_VOICES = [("en-us", 150), ("en-gb-scotland", 175), ("en-gb-x-rp+f3", 200)]
SNR_DB = 10.0
OURS = {  # name -> flags; the models are the bundled ones. "fit": the window fitted to the audio + 1 s
    "tiny.en b1 w5": ["--model", "tiny.en", "--beam-size", "1", "--window", "5"],
    "base b1 w5": ["--model", "base", "--beam-size", "1", "--window", "5"],
    "base b3 w5": ["--model", "base", "--beam-size", "3", "--window", "5"],
    "base b5 fit": ["--model", "base", "--beam-size", "5", "--window", "0"],
    "base b5 w5": ["--model", "base", "--beam-size", "5", "--window", "5"],
    "base b5 w10": ["--model", "base", "--beam-size", "5", "--window", "10"],
}


@dataclass
class Clip:
    set: str  # e.g. "requests / espeak-ng / noisy"
    text: str
    pcm: bytes


@dataclass
class Tally:
    errors: dict[str, list[int]] = field(default_factory=dict)  # set -> [errors, words]
    short: list[float] = field(default_factory=list)  # latencies of requests and questions
    long: list[float] = field(default_factory=list)  # latencies of dictations

    def add(self, clip: Clip, seconds: float, heard: str) -> None:
        errors, words = word_errors(clip.text, heard)
        total = self.errors.setdefault(clip.set, [0, 0])
        total[0] += errors
        total[1] += words
        (self.long if clip.set.startswith("dictation") else self.short).append(seconds)

    def wer(self, name: str | None = None) -> float:
        rows = [v for k, v in self.errors.items() if name is None or k == name]
        return sum(e for e, _ in rows) / max(1, sum(w for _, w in rows))


def sox(pcm: bytes, *effects: str) -> bytes:
    return subprocess.run(["sox", *RAW, "-", *RAW, "-", *effects], input=pcm, capture_output=True, check=True).stdout


@functools.cache
def espeak(text: str, voice: str, speed: int) -> bytes:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, check=True
    )
    return subprocess.run(
        ["sox", "-t", "wav", "-", *RAW, "-"], input=wav.stdout, capture_output=True, check=True
    ).stdout


def noisy(pcm: bytes, seed: int) -> bytes:
    """A room (sox reverb) and a noisy mic (pink noise at SNR_DB below the speech)."""
    wet = np.frombuffer(sox(pcm, "pad", "0.3", "0.3", "reverb", "40", "50", "80"), np.int16).astype(np.float32)
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(len(wet) + 2048).astype(np.float32)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.arange(1, len(white) // 2 + 2)))[: len(wet)]
    speech_power = np.mean(wet[np.abs(wet) > 0.05 * np.abs(wet).max()] ** 2)
    pink *= np.sqrt(speech_power / np.mean(pink**2) / 10 ** (SNR_DB / 10))
    return np.clip(wet + pink, -32768, 32767).astype(np.int16).tobytes()


def clips(quick: bool) -> list[Clip]:
    general = GENERAL[::6] if quick else GENERAL
    domain = DOMAIN[::6] if quick else DOMAIN
    dictations = DICTATIONS[:1] if quick else DICTATIONS
    voices: list[tuple[str, object]] = [
        (f"espeak-ng {v} {s}", functools.partial(espeak, voice=v, speed=s)) for v, s in ESPEAK_VOICES
    ]
    voices.append(("piper joe", piper_speech))
    out = []
    for i, text in enumerate(general):  # each request by two voices, every voice as often
        for name, make in (voices[i % len(voices)], voices[(i + 1) % len(voices)]):
            speaker = "piper" if name.startswith("piper") else "espeak-ng"
            out.append(Clip(f"requests / {speaker}", text, make(text)))
    for i, text in enumerate(domain):  # each question by one voice, espeak-ng and Piper in turn
        out.append(Clip("documents", text, voices[0 if i % 2 else -1][1](text)))
    for _name, make in (voices[0], voices[-1]):
        out += [Clip("dictation", text, make(text)) for text in dictations]
    out += [Clip(c.set + " / noisy", c.text, noisy(c.pcm, seed)) for seed, c in enumerate(list(out))]
    return out


async def time_server(uri: str, pcm: bytes) -> tuple[float, str]:
    """Seconds from audio-stop (written) to the transcript event, and its text."""
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for i in range(0, len(pcm), CHUNK_BYTES):
            chunk = AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i : i + CHUNK_BYTES])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        stopped = time.perf_counter()
        while True:
            event = await client.read_event()
            if event is None:
                raise ConnectionError(f"{uri} closed without a transcript")
            if event.type == "transcript":
                return time.perf_counter() - stopped, event.data.get("text", "")
            if event.type == "error":
                raise RuntimeError(f"{uri}: {event.data}")


def servers(default: str, models: str) -> dict[str, Server]:
    common = ["--compute-type", "int8", "--cpu-threads", "1", "--language", "en", "--models-dir", models]
    out = {name: Server.xnai("asr", *flags, *common) for name, flags in OURS.items()}
    vocab = Server.xnai("asr", *OURS[default], "--document-vocabulary", *common)
    texts = [document_text(found) for found in find_documents(DOCS)[0]]
    write_document_terms(vocab.workdir / "data", texts)  # what `xnai ingest` writes for these documents
    assert document_terms_file(vocab.workdir / "data").exists()
    out[f"{default} + vocabulary"] = vocab
    path = str(whisper_model(OURS[default][1], Path(models)).path)
    beam = OURS[default][OURS[default].index("--beam-size") + 1]
    reference = [sys.executable, "-m", "wyoming_faster_whisper", "--uri", "{uri}", "--model", path,
                 "--stt-library", "faster-whisper", "--local-files-only", "--data-dir", "{workdir}"]  # fmt: skip
    out["wyoming-faster-whisper defaults"] = Server(reference, "wfw-defaults")
    matched = ["--beam-size", beam, "--compute-type", "int8", "--cpu-threads", "1", "--language", "en"]
    out["wyoming-faster-whisper matched"] = Server([*reference, *matched], "wfw-matched")
    return out


def run(clips_: list[Clip], running: dict[str, Server], log: list[dict]) -> dict[str, Tally]:
    tallies = {name: Tally() for name in running}
    names = list(running)
    for server in running.values():  # warm-up: first calls pay for lazy initialisation
        anyio.run(time_server, server.uri, clips_[0].pcm)
    for i, clip in enumerate(clips_):
        for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate who goes first
            seconds, heard = anyio.run(time_server, running[name].uri, clip.pcm)
            tallies[name].add(clip, seconds, heard)
            log.append({"server": name, "set": clip.set, "text": clip.text, "heard": heard, "seconds": seconds})
        if i % 20 == 19:
            print(f"  {i + 1}/{len(clips_)} clips, {load_average()}", file=sys.stderr)
    return tallies


def report(tallies: dict[str, Tally], sets: list[str], default: str, budget: float) -> None:
    reference = median(tallies["wyoming-faster-whisper defaults"].short)
    header = ["configuration", *sets, "all", "median s (requests)", "vs reference defaults", "median s (dictation)"]
    rows = []
    for name, tally in tallies.items():
        short = median(tally.short)
        rows.append([name, *(f"{tally.wer(s):.3f}" for s in sets), f"**{tally.wer():.3f}**", f"{short:.3f}",
                     f"{short / reference:.2f}", f"{median(tally.long):.3f}"])  # fmt: skip
    print("Word error rate per set; latency from audio-stop to transcript")
    print()
    print(table(header, rows))
    print()
    fast = {n: t for n, t in tallies.items() if n in OURS and median(t.short) < budget}
    if fast:
        best = min(fast, key=lambda n: fast[n].wer())
        print(f"most accurate of ours under {budget} s median: {best} (bench default: {default})")
    close = [n for n in OURS if abs(median(tallies[n].short) - budget) < 0.2 * budget]
    print(f"within 20 % of the {budget} s line: {', '.join(close) or 'none'}")
    print(f"machine: {load_average()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="an eighth of the clips (a few minutes)")
    parser.add_argument("--default", default="base b5 w5", choices=list(OURS), help="xnai's default configuration")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds of median latency a default may take")
    parser.add_argument("--save", type=Path, help="write every transcript and its latency to this JSON file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still stop the servers
    models = PathSettings().models_dir
    assert models is not None
    whisper_model("base", models)  # assembled once, before the servers start
    all_clips = clips(args.quick)
    sets = list(dict.fromkeys(c.set for c in all_clips))
    print(f"{len(all_clips)} clips, {len(OURS) + 3} servers; {load_average()}", file=sys.stderr)
    running = servers(args.default, str(models))
    try:
        for server in running.values():
            server.wait()
        log: list[dict] = []
        tallies = run(all_clips, running, log)
    finally:
        for server in running.values():
            server.stop()
    if args.save:
        args.save.write_text(json.dumps(log, indent=1))
    report(tallies, sets, args.default, args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
