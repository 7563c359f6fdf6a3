"""ASR latency and accuracy: our server against the reference wyoming-faster-whisper.

Both servers get the same bundled Whisper tiny.en files, beam size, compute type, CPU threads and
language, the same utterances sent the same way. The figure that matters to a user is the time from
audio-stop to the transcript. The third column is faster-whisper's own `transcribe()` called in this
process (no server around it). Ours decodes short utterances over a window cut to the audio
(`--window`), so it is also timed with `--window 30` (Whisper's full window, faster-whisper's path).
Requests are interleaved so background load hits all alike.

Accuracy: word error rate of both servers over the utterances below and the test-document questions,
spoken by espeak-ng and by the bundled Piper voice (more natural), so speed is never bought with words.

    uv run python -m bench.asr [--quick] [--repeats N] [--beam-size 1] [--cpu-threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio
import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient

from bench.support import FACTS, Server, load_average, median, piper_speech, speech, table, word_errors
from wyoming_xnai.models import whisper_model

UTTERANCES = [
    "turn on the kitchen lights",
    "what is the weather like tomorrow",
    "set a timer for ten minutes",
    "what is the capital of france",
    "play some relaxing music in the living room and turn the volume down a little",
]
CHUNK_BYTES = 2048  # 64 ms at 16 kHz, what a satellite streams


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


class Direct:
    """faster-whisper in this process, called exactly as our Transcriber calls it."""

    def __init__(self, path: str, beam_size: int, compute_type: str, cpu_threads: int) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)
        self.beam_size = beam_size

    def __call__(self, pcm: bytes) -> tuple[float, str]:
        started = time.perf_counter()
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        segments, _ = self.model.transcribe(
            audio, language="en", beam_size=self.beam_size, condition_on_previous_text=False, vad_filter=False
        )
        text = " ".join(s.text.strip() for s in segments)
        return time.perf_counter() - started, text


def accuracy(uris: dict[str, str], texts: list[str] | None) -> dict[str, tuple[dict[str, tuple[int, int]], int]]:
    """Word errors per server and voice, over `texts` (default: every utterance and test question)."""
    texts = texts or UTTERANCES + [f.question for f in FACTS]
    out = {}
    for voice, make in (("espeak-ng", speech), ("Piper joe-medium", piper_speech)):
        totals = {who: (0, 0) for who in uris}
        for text in texts:
            pcm = make(text)
            for who, uri in uris.items():
                _, heard = anyio.run(time_server, uri, pcm)
                errors, words = word_errors(text, heard)
                totals[who] = (totals[who][0] + errors, totals[who][1] + words)
        out[voice] = (totals, len(texts))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 utterances x 3 repeats (about a minute)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--cpu-threads", type=int, default=2)
    parser.add_argument("--compute-type", default="int8")
    args = parser.parse_args(argv)
    utterances = UTTERANCES[:3] if args.quick else UTTERANCES
    repeats = 3 if args.quick else args.repeats
    model_path = str(whisper_model("tiny.en").path)
    settings = ["--beam-size", str(args.beam_size), "--compute-type", args.compute_type,
                "--cpu-threads", str(args.cpu_threads), "--language", "en"]  # fmt: skip
    clips = {text: speech(text) for text in utterances}

    ours = Server.xnai("asr", "--model", "tiny.en", *settings)
    full = Server.xnai("asr", "--model", "tiny.en", "--window", "30", *settings)
    reference = Server(
        [sys.executable, "-m", "wyoming_faster_whisper", "--uri", "{uri}", "--model", model_path,
         "--stt-library", "faster-whisper", "--local-files-only", "--data-dir", "{workdir}", *settings],
        "wyoming-faster-whisper",
    )  # fmt: skip
    whos = ("ours", "full", "ref", "direct")
    samples: dict[str, dict[str, list[float]]] = {who: {t: [] for t in utterances} for who in whos}
    texts: dict[str, dict[str, str]] = {who: {} for who in samples}
    with ours, full, reference:
        ours.wait()
        full.wait()
        reference.wait()
        direct = Direct(model_path, args.beam_size, args.compute_type, args.cpu_threads)
        for pcm in clips.values():  # warm-up: first calls pay for lazy initialisation
            for server in (ours, full, reference):
                anyio.run(time_server, server.uri, pcm)
            direct(pcm)
        for _ in range(repeats):
            for text, pcm in clips.items():
                for who, call in (
                    ("ours", lambda p: anyio.run(time_server, ours.uri, p)),
                    ("full", lambda p: anyio.run(time_server, full.uri, p)),
                    ("ref", lambda p: anyio.run(time_server, reference.uri, p)),
                    ("direct", direct),
                ):
                    seconds, said = call(pcm)
                    samples[who][text].append(seconds)
                    texts[who][text] = said.strip()

        errors = accuracy({"ours": ours.uri, "ref": reference.uri}, UTTERANCES[:3] if args.quick else None)

    rows = []
    for text in utterances:
        o, f, r, d = (median(samples[w][text]) for w in whos)
        rows.append([f"{len(clips[text]) / 32000:.1f} s: {text[:40]}", f"{o * 1000:.0f}", f"{r * 1000:.0f}",
                     f"{o / r:.2f}", f"{f * 1000:.0f}", f"{d * 1000:.0f}"])  # fmt: skip
    o, f, r, d = (median([s for t in utterances for s in samples[w][t]]) for w in whos)
    rows.append(["**all**", f"**{o * 1000:.0f}**", f"**{r * 1000:.0f}**", f"**{o / r:.2f}**",
                 f"**{f * 1000:.0f}**", f"**{d * 1000:.0f}**"])  # fmt: skip
    print(f"ASR, Whisper tiny.en, beam {args.beam_size}, {args.compute_type}, {args.cpu_threads} threads, "
          f"{repeats} repeats per utterance; median ms from audio-stop to transcript")  # fmt: skip
    print()
    print(table(["utterance", "xnai", "wyoming-faster-whisper 3.8.1", "ratio", "xnai --window 30",
                 "faster-whisper transcribe() in-process"], rows))  # fmt: skip
    print()
    for text in utterances:
        if texts["ours"][text].lower() != texts["ref"][text].lower():
            print(f"note: transcripts differ for '{text}': ours '{texts['ours'][text]}', ref '{texts['ref'][text]}'")
    print()
    rows = [[voice, f"{e['ours'][0] / e['ours'][1]:.3f}", f"{e['ref'][0] / e['ref'][1]:.3f}", n]
            for voice, (e, n) in errors.items()]  # fmt: skip
    print(table(["speech", "xnai WER", "wyoming-faster-whisper WER", "utterances"], rows))
    print(f"machine: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
