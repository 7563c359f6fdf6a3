"""The satellite against real services on loopback: a WAV of espeak-ng speech is the microphone,
a WAV file is the speaker. Services are found by zeroconf or given by URI."""

from __future__ import annotations

import difflib
import re
import sys
import time
import wave
from pathlib import Path

import anyio
import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.satellite import RunSatellite
from wyoming.tts import Synthesize

from bench.support import Collector
from satellite.hearing import speech_segmenter
from satellite.wake_phrase import strip_wake_phrase, strip_wake_tail
from tests.support import LOOPBACK, Launcher, ServerProcess, free_port, silence, speech, transcribe, transcript_text
from tests.test_zeroconf import browse
from wyoming_xnai.audio.format import FRAME_BYTES
from wyoming_xnai.settings import SatelliteSettings

pytestmark = pytest.mark.anyio
QUESTION = "what is the capital of france"
NO_WAKE_WORD = ("--wake-word", "none", "--no-sounds")  # answer every utterance, play only answers


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setframerate(rate)
        wav.setsampwidth(2)
        wav.setnchannels(1)
        wav.writeframes(pcm)
    return path


def question_wav(path: Path, text: str = QUESTION, lead: float = 1.0) -> Path:
    return write_wav(path, silence(lead) + speech(text) + silence(0.3))


# the satellite logs the answer with %r: in double quotes when it holds an apostrophe
ANSWER_LOG = r"(?m)answer: ['\"](.*)['\"]$"


def spoke_the_fact(output: str, heard: str, keyword: str) -> bool:
    """The satellite's answer (its log) holds the fact, and the audio it played says that answer: most of
    its words come back when our ASR hears the recording (tiny.en spells names its own way, "Hartwell" ->
    "heart while", and Piper's noise makes every rendering a little different)."""
    answers = re.findall(ANSWER_LOG, output)
    if not answers or keyword.lower() not in answers[-1].lower():
        return False
    said = re.findall(r"[a-z]+", answers[-1].lower())
    heard_words = re.findall(r"[a-z]+", heard.lower())
    close = sum(any(difflib.SequenceMatcher(None, w, h).ratio() >= 0.8 for h in heard_words) for w in said)
    return close >= len(said) / 2


def read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


# the satellite logs the transcript with %r: in double quotes when it holds an apostrophe
TRANSCRIPT_LOG = r"(?m)transcript: ['\"](.*)['\"]$"


def wait_for_log(server: ServerProcess, pattern: str, timeout: float = 60.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, server.output())
        if match:
            return match
        if server.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no /{pattern}/ in satellite output:\n{server.output()}")


def wait_exit(server: ServerProcess, timeout: float = 90.0) -> int:
    deadline = time.monotonic() + timeout
    while server.proc.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"satellite did not finish:\n{server.output()}")
        time.sleep(0.1)
    return server.proc.returncode


def dead_uri() -> str:
    return f"tcp://{LOOPBACK}:{free_port()}"


# --- units on real audio ---------------------------------------------------------------------
def test_segmenter_finds_start_and_end_of_real_speech() -> None:
    settings = SatelliteSettings(satellite_end_silence=0.45)
    segmenter = speech_segmenter(settings)
    pcm = silence(1.0) + speech(QUESTION) + silence(1.0)
    events = []
    for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        event = segmenter.feed(pcm[i : i + FRAME_BYTES], i / 32000)
        if event:
            events.append((event, i / 32000))
    assert [e for e, _ in events] == ["start", "end"]
    speech_seconds = len(speech(QUESTION)) / 32000
    assert 0.9 <= events[0][1] <= 1.5
    assert 1.0 + speech_seconds <= events[1][1] <= 1.0 + speech_seconds + 0.8


def test_wake_phrase() -> None:
    assert strip_wake_phrase("Hey Jarvis, what time is it?", "hey jarvis") == "what time is it?"
    assert strip_wake_phrase("What time is it?", "hey jarvis") is None
    assert strip_wake_phrase("Hey, Jarvis.", "hey jarvis") == ""


def test_wake_word_tail_is_dropped_from_the_transcript() -> None:
    """The pre-roll keeps the end of the wake word; Whisper writes it as a fragment set off by a mark."""
    assert strip_wake_tail("Boo, which day is the bin collection?", "okay nabu") == "which day is the bin collection?"
    assert strip_wake_tail("Abu, what is the cat allergic to?", "okay nabu") == "what is the cat allergic to?"
    assert strip_wake_tail("Okay, Nabu, what time is it?", "okay nabu") == "what time is it?"
    assert strip_wake_tail("Vis, what time is it?", "hey jarvis") == "what time is it?"
    assert strip_wake_tail("Boo.", "okay nabu") == ""
    for kept in ("Who, me?", "Now, what is the time?", "Yes, the kettle.", "Boo who is at the door?", "Bye, see you."):
        assert strip_wake_tail(kept, "okay nabu") == kept


# --- failover and robustness -----------------------------------------------------------------
def test_asr_failover_mid_utterance(start_server: Launcher, tmp_path: Path) -> None:
    """Two ASR instances; the one in use is killed while the user speaks; the utterance still succeeds."""
    asr_a = start_server("asr")
    asr_b = start_server("asr")
    wav = question_wav(tmp_path / "q.wav", lead=0.5)
    sat = start_server(
        "satellite", *NO_WAKE_WORD,
        "--mic-wav", str(wav), "--snd-wav", str(tmp_path / "out.wav"),
        "--asr-uri", asr_a.uri, "--asr-uri", asr_b.uri,
        "--handle-uri", dead_uri(), "--tts-uri", dead_uri(), "--timeout", "5",
        wait=False,
    )  # fmt: skip
    used = wait_for_log(sat, r"asr: streaming to (tcp://\S+)").group(1)
    victim = asr_a if used == asr_a.uri else asr_b
    victim.proc.kill()  # dies mid-request: no goodbye, the socket just breaks
    wait_exit(sat)
    out = sat.output()
    transcript = wait_for_log(sat, TRANSCRIPT_LOG).group(1).lower()
    assert "capital" in transcript and "france" in transcript, out
    assert "failing over" in out
    assert out.count("asr: streaming to") >= 2


def test_broken_mic_command_is_reported_and_retried(start_server: Launcher) -> None:
    sat = start_server("satellite", "--mic-command", "false", "--asr-uri", dead_uri(), wait=False)
    wait_for_log(sat, r"mic command 'false' stopped \(exit code -?\d+\); retrying in 1 s", timeout=20)
    wait_for_log(sat, r"retrying in 2 s", timeout=20)
    assert sat.proc.poll() is None  # still alive, still trying
    assert sat.stop() == 0


def test_missing_mic_command_is_reported(start_server: Launcher) -> None:
    sat = start_server("satellite", "--mic-command", "/nonexistent/arecord", "--asr-uri", dead_uri(), wait=False)
    wait_for_log(sat, r"mic command '/nonexistent/arecord' cannot start", timeout=20)
    assert sat.proc.poll() is None
    sat.stop()


def test_service_that_starts_later_is_discovered(start_server: Launcher, tmp_path: Path) -> None:
    """The satellite starts with no ASR anywhere; one appears on zeroconf while the user speaks."""
    wav = question_wav(tmp_path / "q.wav", lead=1.5)
    tag = f"satlate{free_port()}"
    sat = start_server(
        "satellite", *NO_WAKE_WORD,
        "--mic-wav", str(wav), "--discover-interface", LOOPBACK, "--discover-names", tag,
        "--handle-uri", dead_uri(), "--tts-uri", dead_uri(), "--timeout", "20", "--health-interval", "0.5",
        wait=False,
    )  # fmt: skip
    wait_for_log(sat, "zeroconf: browsing")
    start_server("asr", "--zeroconf", f"{tag}-asr", "--zeroconf-host", LOOPBACK)
    wait_exit(sat)
    transcript = wait_for_log(sat, TRANSCRIPT_LOG).group(1).lower()
    assert "capital" in transcript and "france" in transcript, sat.output()
    assert f"found {tag}-asr" in sat.output()


# --- Home Assistant mode ---------------------------------------------------------------------
async def answer_pings(ha: AsyncClient, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
    """Reads everything the satellite sends: pings are answered at once, the rest is handed on."""
    send, recv = anyio.create_memory_object_stream(1000)
    task_status.started(recv)
    async with send:
        while (event := await ha.read_event()) is not None:
            if Ping.is_type(event.type):
                await ha.write_event(Pong(text=event.data.get("text")).event())
            else:
                await send.send(event)


async def test_home_assistant_mode(start_server: Launcher, tmp_path: Path) -> None:
    """A client plays Home Assistant's side: run-satellite, ping, run-pipeline + audio, then the answer."""
    asr = start_server("asr")
    wav = question_wav(tmp_path / "q.wav")
    out = tmp_path / "out.wav"
    name = f"sat-ha-{free_port()}"
    sat = start_server(
        "satellite", *NO_WAKE_WORD, "--ha", "--mic-wav", str(wav), "--snd-wav", str(out), "--area", "kitchen",
        "--zeroconf", name, "--zeroconf-host", LOOPBACK,
    )  # fmt: skip
    advertised = await browse(name)  # Home Assistant finds it like any Wyoming device
    assert advertised.port == sat.port
    async with AsyncClient.from_uri(sat.uri) as ha, anyio.create_task_group() as tg:
        events = await tg.start(answer_pings, ha)  # HA pongs the satellite's pings, as the real one does
        await ha.write_event(RunSatellite().event())
        await ha.write_event(Describe().event())
        await ha.write_event(Ping(text="hi").event())
        audio = bytearray()
        seen: list[str] = []
        with anyio.fail_after(30):
            async for event in events:
                seen.append(event.type)
                if Info.is_type(event.type):
                    info = Info.from_event(event)
                    assert info.satellite is not None and info.satellite.installed
                    assert info.satellite.area == "kitchen"
                elif event.type == "pong":
                    assert event.data.get("text") == "hi"
                elif event.type == "run-pipeline":
                    assert event.data["start_stage"] == "asr" and event.data["end_stage"] == "tts"
                elif AudioChunk.is_type(event.type):
                    chunk = AudioChunk.from_event(event)
                    assert (chunk.rate, chunk.width, chunk.channels) == (16000, 2, 1)
                    audio += chunk.audio
                elif AudioStop.is_type(event.type):
                    break
        assert {"info", "pong", "run-pipeline"} <= set(seen)
        assert seen.index("run-pipeline") < seen.index("audio-chunk")
        # HA transcribes what the satellite streamed...
        heard = transcript_text(await transcribe(asr.uri, bytes(audio))).lower()
        assert "capital" in heard and "france" in heard
        # ...and sends the answer back the way HA does for satellites (22050 Hz, 2048-byte chunks)
        await ha.write_event(Transcript(text=heard).event())
        answer = speech("the capital of france is paris", rate=22050)
        await ha.write_event(Synthesize(text="The capital of France is Paris.").event())
        await ha.write_event(AudioStart(rate=22050, width=2, channels=1).event())
        for i in range(0, len(answer), 2048):
            await ha.write_event(AudioChunk(rate=22050, width=2, channels=1, audio=answer[i : i + 2048]).event())
        await ha.write_event(AudioStop().event())
        with anyio.fail_after(20):
            async for event in events:
                if event.type == "played":
                    break
        tg.cancel_scope.cancel()
    played, rate = read_wav(out)
    assert rate == 22050 and played == answer
    assert "stopped answering pings" not in sat.output()


# --- end to end with every real service ------------------------------------------------------
@pytest.fixture(scope="module")
def voice_services(module_servers: Launcher) -> dict[str, ServerProcess]:
    """ASR, TTS and handle (with the test documents indexed), all advertised by zeroconf on loopback."""
    import subprocess

    from tests.docs_facts import DOCS

    tag = f"sate2e{free_port()}"
    subprocess.run(
        [sys.executable, "-m", "wyoming_xnai", "ingest", str(DOCS)], env=module_servers.env, check=True, timeout=300
    )
    servers = {
        kind: module_servers(kind, "--zeroconf", f"{tag}-{kind}", "--zeroconf-host", LOOPBACK)
        for kind in ("asr", "tts", "handle")
    }
    servers["tag"] = tag  # type: ignore[assignment]
    return servers


def test_end_to_end_spoken_question_gets_spoken_answer(
    voice_services: dict, start_server: Launcher, tmp_path: Path
) -> None:
    from tests.docs_facts import SPOKEN

    fact = SPOKEN[0]
    wav = question_wav(tmp_path / "q.wav", fact.question)
    out = tmp_path / "answer.wav"
    sat = start_server(
        "satellite", *NO_WAKE_WORD,
        "--mic-wav", str(wav), "--snd-wav", str(out), "--once",
        "--discover-interface", LOOPBACK, "--discover-names", voice_services["tag"],
        "--timeout", "60",
        wait=False,
    )  # fmt: skip
    assert wait_exit(sat, timeout=180) == 0, sat.output()
    output = sat.output()
    for kind in ("asr", "tts", "handle"):
        assert f"found {voice_services['tag']}-{kind}" in output
    pcm, rate = read_wav(out)
    assert len(pcm) > rate  # more than half a second of answer
    heard = anyio.run(transcribe, voice_services["asr"].uri, pcm, rate)
    text = transcript_text(heard).lower()
    assert spoke_the_fact(output, text, fact.keyword), (text, output)


def test_stalled_mic_command_is_restarted(start_server: Launcher) -> None:
    """A recorder that hangs without delivering audio must not block the satellite forever."""
    sat = start_server("satellite", "--mic-command", "sleep 60", "--asr-uri", dead_uri(), wait=False)
    wait_for_log(sat, r"mic command 'sleep 60' gave no audio for 5 s; retrying", timeout=30)
    assert sat.stop() == 0


def test_a_pause_mid_question_does_not_cut_it_off(start_server: Launcher, tmp_path: Path) -> None:
    """After a short pause (espeak-ng's ~0.3 s between the two parts) the answer is prepared
    speculatively; when the user goes on it is dropped and the whole question is transcribed (the
    utterance is replayed to ASR)."""
    asr = start_server("asr")
    pcm = silence(1.0) + speech("what is the capital") + speech("of france") + silence(0.3)
    wav = write_wav(tmp_path / "q.wav", pcm)
    sat = start_server(
        "satellite", *NO_WAKE_WORD,
        "--mic-wav", str(wav), "--asr-uri", asr.uri, "--handle-uri", dead_uri(), "--tts-uri", dead_uri(),
        "--speculate", "0.2", "--end-silence", "0.45", "--timeout", "5",
        wait=False,
    )  # fmt: skip
    wait_exit(sat)
    out = sat.output()
    assert "speech resumed: the speculative answer is dropped" in out
    transcripts = re.findall(TRANSCRIPT_LOG, out)
    assert "france" in transcripts[-1].lower(), out
    assert "capital" in transcripts[-1].lower(), out


def test_dead_instances_are_skipped(voice_services: dict, start_server: Launcher, tmp_path: Path) -> None:
    """The first instance of every service is down; the satellite answers through the second ones."""
    from tests.docs_facts import SPOKEN

    fact = SPOKEN[0]
    wav = question_wav(tmp_path / "q.wav", fact.question)
    out = tmp_path / "answer.wav"
    args = [*NO_WAKE_WORD, "--mic-wav", str(wav), "--snd-wav", str(out), "--once", "--timeout", "60"]
    for kind in ("asr", "handle", "tts"):
        args += [f"--{kind}-uri", dead_uri(), f"--{kind}-uri", voice_services[kind].uri]
    with Collector() as collector:
        sat = start_server("satellite", *args, "--otlp-endpoint", collector.endpoint, wait=False)
        assert wait_exit(sat, timeout=180) == 0, sat.output()
        spans = {n: collector.named(f"satellite.{n}") for n in ("turn", "listen", "asr", "handle", "tts", "play")}
    answer = wait_for_log(sat, r"answer: '([^']*)'").group(1)
    assert fact.keyword.lower() in answer.lower(), sat.output()
    pcm, rate = read_wav(out)
    assert len(pcm) > rate
    # one span per stage, exported because --otlp-endpoint was given
    assert all(len(found) == 1 for found in spans.values()), spans


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no microphone"),
        (["--mic-wav", "/nonexistent.wav"], "no such file"),
        (["--mic-wav", str(Path(__file__).parents[1] / "satellite/sounds/awake.wav"), "--wake-word", "hey_toaster"],
         "unknown wake word 'hey_toaster'"),
    ],
)
def test_user_mistakes_are_one_line_errors(args: list[str], message: str, xnai_env: dict) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "satellite", *args], capture_output=True, text=True, env=xnai_env, timeout=60
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_mic_and_speaker_commands(voice_services: dict, start_server: Launcher, tmp_path: Path) -> None:
    """The production path: a recorder command (here sox, 44.1 kHz stereo) and a player command."""
    from tests.docs_facts import SPOKEN

    fact = SPOKEN[0]
    wav = question_wav(tmp_path / "q.wav", fact.question)
    out = tmp_path / "played.wav"
    sat = start_server(
        "satellite", *NO_WAKE_WORD,
        "--mic-command", f"sox -q {wav} -t raw -r 44100 -c 2 -b 16 -e signed-integer -",
        "--mic-rate", "44100", "--mic-channels", "2",
        "--snd-command", f"sox -q -t raw -r 22050 -c 1 -b 16 -e signed-integer - {out}",
        "--asr-uri", voice_services["asr"].uri, "--handle-uri", voice_services["handle"].uri,
        "--tts-uri", voice_services["tts"].uri, "--once", "--timeout", "60",
        wait=False,
    )  # fmt: skip
    assert wait_exit(sat, timeout=180) == 0, sat.output()
    transcript = wait_for_log(sat, TRANSCRIPT_LOG).group(1).lower()
    assert fact.question.lower().strip("?").split()[-1] in transcript, sat.output()
    pcm, rate = read_wav(out)
    assert rate == 22050 and len(pcm) > rate
    heard = transcript_text(anyio.run(transcribe, voice_services["asr"].uri, pcm, rate)).lower()
    assert spoke_the_fact(sat.output(), heard, fact.keyword), (heard, sat.output())


def test_wake_phrase_gates_the_answer(start_server: Launcher, tmp_path: Path) -> None:
    """Only the utterance that starts with the wake phrase goes on to handle."""
    asr = start_server("asr")
    pcm = silence(1.0) + speech("what is the capital of france") + silence(4.0)
    pcm += speech("computer, what is the capital of france") + silence(0.5)
    wav = write_wav(tmp_path / "q.wav", pcm)
    sat = start_server(
        "satellite", *NO_WAKE_WORD,
        "--mic-wav", str(wav), "--wake-phrase", "computer", "--asr-uri", asr.uri,
        "--handle-uri", dead_uri(), "--tts-uri", dead_uri(), "--timeout", "5", "--speculate", "0",
        wait=False,
    )  # fmt: skip
    wait_exit(sat)
    out = sat.output()
    assert out.count("not for me (no wake phrase)") == 1, out
    assert out.count("handle: every instance failed") == 1, out  # the second one was asked


def test_conversation_id_is_unguessable_kept_across_follow_ups_and_renewed_after_a_gap() -> None:
    from satellite.conversation import Conversation

    kitchen, hall = Conversation(idle_seconds=300), Conversation(idle_seconds=300)
    first = kitchen.current(now=1000.0)
    assert kitchen.current(now=1010.0) == first  # a follow-up keeps the conversation
    assert kitchen.current(now=1300.0) == first  # 290 s after the last turn: still the same
    assert kitchen.current(now=1700.0) != first  # a long quiet gap starts a new one
    assert hall.current(now=1000.0) != first  # two satellites never share an id
    assert len(first) >= 20 and "satellite" not in first and "kitchen" not in first


async def test_home_assistant_that_stops_answering_is_dropped(start_server: Launcher, tmp_path: Path) -> None:
    """After HA's first ping the satellite pings back; without pongs it drops the connection."""
    sat = start_server("satellite", "--ha", "--mic-wav", str(write_wav(tmp_path / "q.wav", silence(30.0))))
    async with AsyncClient.from_uri(sat.uri) as ha:
        await ha.write_event(RunSatellite().event())
        await ha.write_event(Ping(text="hi").event())
        seen: list[str] = []
        with anyio.fail_after(20):
            while (event := await ha.read_event()) is not None:
                seen.append(event.type)
    assert "pong" in seen and "ping" in seen
    wait_for_log(sat, "stopped answering pings")
    # and a new connection is served as usual
    async with AsyncClient.from_uri(sat.uri) as ha:
        await ha.write_event(Ping(text="again").event())
        with anyio.fail_after(5):
            assert (await ha.read_event()).type == "pong"


def test_service_that_restarts_is_used_again(start_server: Launcher, tmp_path: Path) -> None:
    """The only ASR dies between two questions and comes back on the same port: the second question works."""
    import subprocess

    asr = start_server("asr")
    question = speech(QUESTION)
    wav = write_wav(tmp_path / "q.wav", silence(1.0) + question + silence(10.0) + question + silence(0.5))
    sat = start_server(
        "satellite", *NO_WAKE_WORD,
        "--mic-wav", str(wav), "--asr-uri", asr.uri, "--handle-uri", dead_uri(), "--tts-uri", dead_uri(),
        "--timeout", "10", "--health-interval", "0.5", "--speculate", "0",
        wait=False,
    )  # fmt: skip
    wait_for_log(sat, TRANSCRIPT_LOG)
    asr.proc.kill()
    asr.proc.wait()
    wait_for_log(sat, rf"{re.escape(asr.uri)} failed")
    log = open(tmp_path / "asr-restarted.log", "wb")
    again = subprocess.Popen(
        [sys.executable, "-m", "wyoming_xnai", "asr", "--uri", asr.uri], stdout=log, stderr=subprocess.STDOUT,
        env=start_server.env,
    )  # fmt: skip
    try:
        wait_exit(sat)
    finally:
        again.terminate()
        again.wait(timeout=15)
        log.close()
    out = sat.output()
    transcripts = re.findall(TRANSCRIPT_LOG, out)
    assert len(transcripts) == 2, out
    assert all("france" in t.lower() for t in transcripts), out
    assert f"{asr.uri} is healthy" in out.split(f"{asr.uri} failed")[-1]


def test_wake_word_interrupts_the_answer_and_a_follow_up_needs_no_wake_word(
    voice_services: dict, tmp_path: Path
) -> None:
    """In process, with real ASR, handle and TTS: the wake word said while the first answer plays stops
    it and takes the next question; then a question asked right after that answer, without the wake
    word, is answered in the same conversation; one that starts with the wake word is heard from
    the wake word on."""
    from satellite.pipeline import build_satellite, run_satellite
    from tests.docs_facts import SPOKEN
    from wyoming_xnai.audio.format import FRAME_SECONDS

    first, second, third = SPOKEN[2], SPOKEN[1], SPOKEN[0]
    settings = SatelliteSettings(
        satellite_asr_uri=[voice_services["asr"].uri],
        satellite_handle_uri=[voice_services["handle"].uri],
        satellite_tts_uri=[voice_services["tts"].uri],
        satellite_snd_wav=tmp_path,
        satellite_sounds=False,
        satellite_timeout=60,
    )
    satellite = build_satellite(settings)

    def playing() -> bool:
        answer = satellite.answer
        return answer is not None and bool(answer.turn.first_played_at) and not answer.finished.is_set()

    async def mic():
        async def say(pcm: bytes):
            for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
                await anyio.sleep(FRAME_SECONDS)
                yield pcm[i : i + FRAME_BYTES]

        async def quiet_until(condition, limit: float = 90.0):
            with anyio.fail_after(limit):
                while not condition():
                    await anyio.sleep(FRAME_SECONDS)
                    yield bytes(FRAME_BYTES)

        async for frame in say(silence(0.5) + speech(f"okay nabu, {first.question}")):
            yield frame
        async for frame in quiet_until(playing):
            yield frame
        async for frame in say(speech(f"okay nabu, {second.question}") + silence(0.5)):
            yield frame
        async for frame in quiet_until(lambda: len(satellite.turns) == 2):
            yield frame
        async for frame in say(silence(0.7) + speech(third.question) + silence(0.5)):
            yield frame
        async for frame in quiet_until(lambda: len(satellite.turns) == 3):
            yield frame
        async for frame in say(silence(0.7) + speech(f"okay nabu, {second.question}") + silence(0.5)):
            yield frame  # the wake word again, inside the follow-up window
        async for frame in quiet_until(lambda: len(satellite.turns) == 4):
            yield frame

    anyio.run(run_satellite, settings, None, mic(), satellite, backend="asyncio")
    turns = satellite.turns
    assert [bool(t.interrupted_at) for t in turns] == [True, False, False, False], [t.transcript for t in turns]
    assert turns[0].first_played_at < turns[0].interrupt_heard_at < turns[0].interrupted_at
    # tiny.en (the tests' ASR) may mishear the words right after an interrupted answer; that a whole
    # question was heard and answered is what this checks
    assert turns[1].wake_word == "okay_nabu" and len(turns[1].transcript.split()) >= 3 and turns[1].answer, turns[1]
    assert turns[2].wake_word is None and "boiler" in turns[2].transcript.lower() and turns[2].answer, turns[2]
    assert turns[2].conversation_id == turns[1].conversation_id
    # a follow-up that starts with the wake word is listened to from the wake word on
    assert turns[3].wake_word == "okay_nabu" and not turns[3].transcript.lower().startswith("ok"), turns[3]
