"""End-to-end latency of the satellite: end of speech -> first audio byte handed to the speaker.

Starts real ASR, TTS and handle servers on loopback (handle with the test documents indexed), then runs
the satellite pipeline in this process with spoken questions as the microphone (paced in real time;
espeak-ng by default, `--voice piper` for the bundled Piper voice, which tiny.en hears far better)
and reports, per utterance and as medians, the time of each stage after the end of speech:

    vad_endpoint       the VAD's end-of-utterance silence (--end-silence)
    head_start         how long before the endpoint the answer was started (speculation, --speculate)
    asr                audio-stop -> transcript
    handle_first_text  transcript -> first answer text from handle (streamed)
    tts_first_audio    first answer text -> first audio chunk from TTS (streamed)
    first_played       first audio chunk -> first byte written to the speaker

    uv run python -m bench.e2e --quick          # 3 utterances (writes bench/results/e2e.md)
    uv run python -m bench.e2e --repeat 3       # every spoken question, 3 times
    uv run python -m bench.e2e --asr-uri tcp://... --tts-uri ... --handle-uri ...   # running services
    uv run python -m bench.e2e --asr-flags "--window 30"                             # other server settings
"""

from __future__ import annotations

import argparse
import logging
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from bench.support import DOCS, SPOKEN, Launcher, load_average, piper_speech, silence, speech
from satellite.pipeline import run_satellite
from satellite.turn import Turn
from wyoming_xnai.audio.format import FRAME_BYTES, FRAME_SECONDS
from wyoming_xnai.settings import SatelliteSettings

STAGES = ["vad_endpoint", "head_start", "asr", "handle_first_text", "tts_first_audio", "first_played"]
TOTAL = "end_of_speech_to_first_audio"


def start_services(workdir: Path, flags: dict[str, list[str]] | None = None) -> tuple[Launcher, dict[str, str]]:
    launcher = Launcher(workdir)
    subprocess.run(
        [sys.executable, "-m", "wyoming_xnai", "ingest", str(DOCS)],
        env=launcher.env,
        check=True,
        capture_output=True,
    )
    flags = flags or {}
    uris = {kind: launcher(kind, *flags.get(kind, [])).uri for kind in ("asr", "tts", "handle")}
    return launcher, uris


async def mic(
    questions: list[str], answered: list[anyio.Event], voice: str, wake_phrase: str | None
) -> AsyncIterator[bytes]:
    """Each question in real time (after the wake word), then room silence until it was answered."""
    speak = piper_speech if voice == "piper" else speech
    for question, done in zip(questions, answered, strict=True):
        pcm = silence(0.6) + speak(f"{wake_phrase}, {question}" if wake_phrase else question)
        started = time.monotonic()
        for i, offset in enumerate(range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)):
            await anyio.sleep(max(0.0, started + i * FRAME_SECONDS - time.monotonic()))
            yield pcm[offset : offset + FRAME_BYTES]
        quiet = bytes(FRAME_BYTES)
        with anyio.move_on_after(60):
            while not done.is_set():
                await anyio.sleep(FRAME_SECONDS)
                yield quiet


async def measure(settings: SatelliteSettings, questions: list[str], voice: str = "espeak-ng") -> list[Turn]:
    words = [w for w in settings.satellite_wake_word if w != "none"]
    wake_phrase = words[0].replace("_", " ") if words else None
    answered = [anyio.Event() for _ in questions]
    turns: list[Turn] = []

    def on_turn(turn: Turn) -> None:
        turns.append(turn)
        if len(turns) <= len(answered):
            answered[len(turns) - 1].set()

    await run_satellite(settings, on_turn, mic(questions, answered, voice, wake_phrase))
    return turns


def table(turns: list[Turn], questions: list[str], keywords: list[str]) -> str:
    lines = [
        "| # | question | heard | answer has fact | " + " | ".join(STAGES) + f" | **{TOTAL}** |",
        "|---|---|---|---|" + "---|" * (len(STAGES) + 1),
    ]
    for i, turn in enumerate(turns):
        stages = turn.stages()
        cells = [f"{stages[s]:.3f}" if s in stages else "-" for s in [*STAGES, TOTAL]]
        has = keywords[i].lower() in turn.answer.lower() if i < len(keywords) else False
        lines.append(
            f"| {i + 1} | {questions[i]} | {turn.transcript} | {'yes' if has else 'no'} | " + " | ".join(cells)
        )
    medians = []
    for stage in [*STAGES, TOTAL]:
        values = [t.stages()[stage] for t in turns if stage in t.stages()]
        medians.append(f"**{statistics.median(values):.3f}**" if values else "-")
    lines.append("| | **median (s)** | | | " + " | ".join(medians) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 utterances only")
    parser.add_argument("--repeat", type=int, default=1, help="How often to ask each spoken question")
    parser.add_argument(
        "--voice",
        choices=["espeak-ng", "piper"],
        default="espeak-ng",
        help="Who asks: espeak-ng (robotic, tiny.en mishears it often) or the bundled Piper voice (natural)",
    )
    parser.add_argument("--end-silence", type=float, default=None, help="VAD end-of-utterance silence (s)")
    parser.add_argument(
        "--wake-word", default="okay_nabu", help="Said before each question ('none': questions only, no wake word)"
    )
    parser.add_argument("--asr-uri")
    parser.add_argument("--tts-uri")
    parser.add_argument("--handle-uri")
    for kind in ("asr", "tts", "handle"):
        parser.add_argument(f"--{kind}-flags", default="", help=f"Extra flags for the {kind} server this starts")
    parser.add_argument("--out", type=Path, default=Path("bench/results/e2e.md"), help="Markdown table file")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)

    facts = SPOKEN * args.repeat
    if args.quick:
        facts = facts[:3]
    questions = [f.question for f in facts]
    launcher = None
    with tempfile.TemporaryDirectory(prefix="xnai-bench-e2e-") as tmp:
        try:
            if args.asr_uri and args.tts_uri and args.handle_uri:
                uris = {"asr": args.asr_uri, "tts": args.tts_uri, "handle": args.handle_uri}
            else:
                print("starting ASR, TTS and handle (indexing the test documents) ...", file=sys.stderr)
                flags = {kind: shlex.split(getattr(args, f"{kind}_flags")) for kind in ("asr", "tts", "handle")}
                launcher, uris = start_services(Path(tmp), flags)
            overrides = {} if args.end_silence is None else {"satellite_end_silence": args.end_silence}
            settings = SatelliteSettings(
                satellite_asr_uri=[uris["asr"]],
                satellite_tts_uri=[uris["tts"]],
                satellite_handle_uri=[uris["handle"]],
                satellite_snd_wav=Path(tmp) / "answers",
                satellite_timeout=60.0,
                satellite_wake_word=[args.wake_word],
                **overrides,
            )
            (Path(tmp) / "answers").mkdir()
            turns = anyio.run(measure, settings, questions, args.voice, backend="asyncio")
        finally:
            if launcher is not None:
                launcher.stop_all()
    report = (
        f"Satellite end to end, {len(turns)} utterances spoken by {args.voice}, wake word {args.wake_word}, "
        f"end silence {settings.satellite_end_silence} s, "
        f"speculation after {settings.satellite_speculate} s (seconds):\n\n"
        + table(turns, questions, [f.keyword for f in facts])
        + f"\n\nmachine: {load_average()}\n"
    )
    print("\n" + report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    return 0 if turns else 1


if __name__ == "__main__":
    sys.exit(main())
