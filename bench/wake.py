"""Wake word: detection latency, false triggers per hour of other speech, CPU of always-on detection,
and the time from the end of an interrupting wake word to silence.

    uv run python -m bench.wake                 # everything, 20 min of other speech (writes bench/results/wake.md)
    uv run python -m bench.wake --minutes 60    # an hour of other speech for the false-trigger rate
    uv run python -m bench.wake --no-interrupt  # skip the part that starts ASR, TTS and handle

latency     the bundled models (the wake word said by four espeak-ng voices, followed at once by a
            question), streamed in real time to `xnai wake` over Wyoming as Home Assistant does:
            end of the wake word (last sample above the noise floor) -> `detection` received. The
            same audio through the detection engine in process (pymicro-wakeword, which the reference
            wyoming-microwakeword server also runs) gives the engine's own latency; the ratio is the
            service's overhead.
false       sentences from the repository's documents, read by four espeak-ng voices at three
            speeds, with pauses, never containing a wake word: detections per hour per model.
cpu         CPU seconds per audio second of the satellite's always-on path (32 ms frames through
            `okay_nabu`), on one core, and of each model alone.
interrupt   the satellite in process with real ASR, TTS and handle: while an answer plays the wake
            word is said; end of the wake word -> the speaker silent.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import numpy as np

from bench.support import load_average, table
from wyoming_xnai.audio.format import BYTES_PER_SECOND, FRAME_BYTES, FRAME_SECONDS
from wyoming_xnai.audio.wakeword import WakeWordDetector, builtin_models, find_model

VOICES = ["en-us", "en", "en+m3", "en+f3"]
PHRASES = {"okay_nabu": "okay nabu", "hey_jarvis": "hey jarvis", "alexa": "alexa", "hey_mycroft": "hey mycroft"}
QUESTION = "what time is it"
CHUNK_BYTES = 2048  # 64 ms, what Home Assistant sends
TEXT_SOURCES = ["README.md", "tests/data/docs/house.txt", "tests/data/docs/appliances.md"]


def espeak(text: str, voice: str = "en-us", speed: int = 150) -> bytes:
    """16 kHz mono 16-bit PCM of `text` read by espeak-ng (text on stdin: it may start with a dash)."""
    with tempfile.TemporaryDirectory(prefix="xnai-espeak-") as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), "--stdin"],
            input=text.encode(), check=True, capture_output=True,
        )  # fmt: skip
        return subprocess.run(
            ["sox", "-D", str(wav), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", "-"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip


def speech_end(pcm: bytes) -> float:
    """Seconds to the last sample above the noise floor."""
    samples = np.abs(np.frombuffer(pcm, dtype=np.int16))
    loud = np.nonzero(samples > 300)[0]
    return (loud[-1] + 1) / 16000 if len(loud) else 0.0


# --- latency --------------------------------------------------------------------------------------
def engine_latency(model: str, pcm: bytes, wake_end: float) -> float | None:
    detector = WakeWordDetector([find_model(model)])
    for i in range(0, len(pcm), CHUNK_BYTES):
        if detector.feed(pcm[i : i + CHUNK_BYTES]):
            return (i + CHUNK_BYTES) / BYTES_PER_SECOND - wake_end  # the chunk is complete at its end
    return None


async def service_latency(uri: str, model: str, pcm: bytes, wake_end: float) -> float | None:
    """Real-time chunks to `xnai wake`; the wall time from sending the wake word's last sample to detection."""
    from wyoming.audio import AudioChunk, AudioStart
    from wyoming.client import AsyncClient
    from wyoming.wake import Detect

    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Detect(names=[model]).event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        detected: list[float] = []
        sent_end: list[float] = []
        heard = anyio.Event()

        async def read() -> None:
            while (event := await client.read_event()) is not None:
                if event.type == "detection":
                    detected.append(time.monotonic())
                    heard.set()
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            started = time.monotonic()
            for i in range(0, len(pcm), CHUNK_BYTES):
                end = i + CHUNK_BYTES  # a microphone delivers a chunk once its last sample was recorded
                await anyio.sleep(max(0.0, started + end / BYTES_PER_SECOND - time.monotonic()))
                chunk = AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i:end])
                await client.write_event(chunk.event())
                if not sent_end and end / BYTES_PER_SECOND >= wake_end:
                    sent_end.append(started + wake_end)  # when the last sample of the wake word was due
                if detected:
                    break
            with anyio.move_on_after(2):
                await heard.wait()
            tg.cancel_scope.cancel()
    return detected[0] - sent_end[0] if detected and sent_end else None


def latency_rows(uri: str) -> list[list[object]]:
    rows = []
    for model, phrase in PHRASES.items():
        engine, service, missed = [], [], 0
        for voice in VOICES:
            wake = espeak(phrase, voice)
            wake_end = 0.5 + speech_end(wake)
            pcm = bytes(16000) + wake + espeak(QUESTION, voice) + bytes(32000)
            own = engine_latency(model, pcm, wake_end)
            theirs = anyio.run(service_latency, uri, model, pcm, wake_end, backend="asyncio")
            if own is None or theirs is None:
                missed += 1
                continue
            engine.append(own)
            service.append(theirs)

        def med(values: list[float]) -> str:
            return f"{statistics.median(values):.3f}" if values else "-"

        ratio = f"{statistics.median(service) / statistics.median(engine):.2f}" if engine else "-"
        rows.append([model, f"{len(VOICES) - missed}/{len(VOICES)}", med(engine), med(service), ratio])
    return rows


# --- false triggers and CPU -----------------------------------------------------------------------
def sentences(root: Path) -> list[str]:
    texts = []
    for name in TEXT_SOURCES:
        path = root / name
        texts.append(path.read_text(errors="replace"))
    found = re.split(r"(?<=[.!?])\s+|\n+", re.sub(r"[`*#|_>\[\]()]", " ", "\n".join(texts)))
    wake_words = re.compile(r"nabu|jarvis|alexa|mycroft|wake", re.IGNORECASE)
    return [s.strip() for s in found if 4 <= len(s.split()) <= 40 and not wake_words.search(s)]


def other_speech(minutes: float, seed: int = 7) -> bytes:
    """At least `minutes` of sentences that contain no wake word, varied voices and speeds."""
    rng = random.Random(seed)
    pool = sentences(Path.cwd())
    rng.shuffle(pool)
    out = bytearray()
    i = 0
    while len(out) < minutes * 60 * BYTES_PER_SECOND:
        text = pool[i % len(pool)]
        out += espeak(text, rng.choice(VOICES), rng.choice([130, 150, 175]))
        out += bytes(int(rng.uniform(0.2, 1.2) * 16000) * 2)
        i += 1
    return bytes(out)


def false_triggers_and_cpu(pcm: bytes) -> tuple[list[list[object]], list[list[object]]]:
    hours = len(pcm) / BYTES_PER_SECOND / 3600
    false_rows, cpu_rows = [], []
    for model in builtin_models():
        detector = WakeWordDetector([model])
        fired = 0
        cpu = time.process_time()
        for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            fired += detector.feed(pcm[i : i + FRAME_BYTES]) is not None
        cpu = time.process_time() - cpu
        false_rows.append([model.id, fired, f"{fired / hours:.1f}"])
        cpu_rows.append([model.id, f"{100 * cpu / (len(pcm) / BYTES_PER_SECOND):.2f}"])
    return false_rows, cpu_rows


def satellite_cpu(pcm: bytes) -> float:
    """The satellite's always-on path (WakeListener with the default wake word) in % of one core."""
    from satellite.wake import WakeListener
    from wyoming_xnai.settings import SatelliteSettings

    listener = WakeListener(SatelliteSettings())
    cpu = time.process_time()
    for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        listener.feed(pcm[i : i + FRAME_BYTES], i / BYTES_PER_SECOND)
    return 100 * (time.process_time() - cpu) / (len(pcm) / BYTES_PER_SECOND)


# --- interrupt ------------------------------------------------------------------------------------
async def interrupt_latencies(uris: dict[str, str], questions: list[str], snd: Path) -> list[float]:
    """For each question: ask it with the wake word, and when the answer plays say the wake word again."""
    from satellite.pipeline import build_satellite, run_satellite
    from wyoming_xnai.settings import SatelliteSettings

    settings = SatelliteSettings(
        satellite_asr_uri=[uris["asr"]], satellite_tts_uri=[uris["tts"]], satellite_handle_uri=[uris["handle"]],
        satellite_snd_wav=snd, satellite_sounds=False, satellite_timeout=60, satellite_follow_up=0,
    )  # fmt: skip
    satellite = build_satellite(settings)
    wake_ends: list[float] = []

    def playing() -> bool:
        answer = satellite.answer
        return answer is not None and bool(answer.turn.first_played_at) and not answer.finished.is_set()

    async def mic() -> AsyncIterator[bytes]:
        for question in questions:
            for pcm in (bytes(16000) + espeak(f"okay nabu, {question}"),):
                for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
                    await anyio.sleep(FRAME_SECONDS)
                    yield pcm[i : i + FRAME_BYTES]
            with anyio.move_on_after(60):
                while not playing():
                    await anyio.sleep(FRAME_SECONDS)
                    yield bytes(FRAME_BYTES)
            wake = espeak("okay nabu")
            end = speech_end(wake)
            for i in range(0, len(wake) - FRAME_BYTES + 1, FRAME_BYTES):
                await anyio.sleep(FRAME_SECONDS)
                yield wake[i : i + FRAME_BYTES]
                if (i + FRAME_BYTES) / BYTES_PER_SECOND >= end > i / BYTES_PER_SECOND:
                    wake_ends.append(time.monotonic())
            for _ in range(int(6 / FRAME_SECONDS)):  # nobody asks anything: the satellite goes back to sleep
                await anyio.sleep(FRAME_SECONDS)
                yield bytes(FRAME_BYTES)

    await run_satellite(settings, None, mic(), satellite)
    return [
        t.interrupted_at - max(end for end in wake_ends if end < t.interrupted_at)
        for t in satellite.turns
        if t.interrupted_at and any(end < t.interrupted_at for end in wake_ends)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="Minutes of other speech for false triggers")
    parser.add_argument("--no-interrupt", action="store_true", help="Skip the interrupt part (no ASR/TTS/handle)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/wake.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from bench.e2e import start_services
    from bench.support import SPOKEN, Launcher

    report = []
    with tempfile.TemporaryDirectory(prefix="xnai-bench-wake-") as tmp:
        launcher = Launcher(Path(tmp))
        try:
            wake = launcher("wake")
            print("latency ...", file=sys.stderr)
            report.append("Detection latency, end of the wake word -> detection (s, median over the voices):\n\n")
            report.append(
                table(
                    ["model", "detected", "engine in process", "xnai wake (real time)", "ratio"], latency_rows(wake.uri)
                )
            )
        finally:
            launcher.stop_all()
        print(f"generating {args.minutes:g} min of other speech ...", file=sys.stderr)
        pcm = other_speech(args.minutes)
        false_rows, cpu_rows = false_triggers_and_cpu(pcm)
        minutes = len(pcm) / BYTES_PER_SECOND / 60
        report.append(f"\n\nFalse triggers on {minutes:.1f} min of other speech (4 espeak-ng voices, 3 speeds):\n\n")
        report.append(table(["model", "detections", "per hour"], false_rows))
        report.append("\n\nCPU of always-on detection, % of one core:\n\n")
        cpu_rows.append(
            [
                "satellite always-on path (okay_nabu, 32 ms frames)",
                f"{satellite_cpu(pcm[: 300 * BYTES_PER_SECOND]):.2f}",
            ]
        )
        report.append(table(["what", "% of one core"], cpu_rows))
        if not args.no_interrupt:
            print("interrupt: starting ASR, TTS and handle ...", file=sys.stderr)
            (Path(tmp) / "services").mkdir()
            launcher, uris = start_services(Path(tmp) / "services")
            try:
                (Path(tmp) / "snd").mkdir()
                questions = [f.question for f in SPOKEN]
                latencies = anyio.run(interrupt_latencies, uris, questions, Path(tmp) / "snd", backend="asyncio")
            finally:
                launcher.stop_all()
            values = ", ".join(f"{v:.3f}" for v in latencies)
            median = f"{statistics.median(latencies):.3f}" if latencies else "-"
            report.append(
                f"\n\nInterrupt, end of the wake word -> speaker silent: median {median} s ({values}; {len(latencies)} of {len(questions)} answers interrupted)\n"
            )
    report.append(f"\nmachine: {load_average()}\n")
    text = "".join(report)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
