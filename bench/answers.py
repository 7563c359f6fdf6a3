"""Answer quality on the evaluation sets: facts found, invented answers, honest abstentions, asking again, latency.

    uv run python -m bench.answers [--set dev|holdout|fresh|all] [--quick] [--repeat N] [--out FILE] [--jsonl FILE]
                                   [--python PATH] [--cwd DIR] [--handle-flags "..."]
                                   [--versus PATH] [--versus-flags "..."] [--check] [--rejudge JSONL]

For each set in bench/data/answers/ the notes are indexed into a fresh data dir (`xnai ingest`), one
`xnai handle` is started on a free loopback port, and every question is asked on a fresh TCP connection
exactly as Home Assistant does: `transcript {text, language: "en", context: {conversation_id: <new>}}`, read
until `handled`. Times are taken to the first `handled-chunk` and to `handled`.

The outcome of an answer is `handled.context["xnai_outcome"]` when the server sends one, else it is read from
the text (the honest sentences below). `--python` (and `--cwd`, default: the folder above that venv) runs
the servers from another checkout, to measure its code with these questions; `--versus` runs a second
checkout's server alongside, the two taking turns question by question, and reports the ratio of their
median times (speed is compared side by side, never across runs). `--check` only proves every
answerable question's answer is in its note, without a server; `--rejudge` rebuilds the reports from a
`--jsonl` file. Reports go to bench/results/answers-<set>.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio
from wyoming.asr import Transcript
from wyoming.client import AsyncClient

from bench.support import Server, load_average, median, percentile, server_env, table

SETS = Path(__file__).resolve().parent / "data" / "answers"
RESULTS = Path(__file__).resolve().parent / "results"
ASK_TIMEOUT = 600.0
# Quality is measured, not the behaviour under overload: the LLM gets time enough on a busy 2-core box
# (with the default 20 s, a loaded machine opens the LLM breaker and every answer becomes a fallback).
LLM_TIMEOUT = "300"
WARM_UP = "hello"
QUICK_STEP = 6

# Servers that do not send context["xnai_outcome"] are classified by how their answer starts.
TEXT_OUTCOMES = [
    ("i don't have that in your notes", "not_in_notes"),
    ("sorry, i do not know", "not_in_notes"),
    ("sorry, i didn't catch that", "ask_again"),
    ("sorry, i did not hear a question", "ask_again"),
    ("sorry, i am busy", "busy"),
    ("sorry, i cannot answer", "degraded"),
    ("my language model is not working", "degraded"),
]
INVENTED = {"answered", "degraded"}  # outcomes that state something as if it were the answer


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    question: str
    expect: list[str]
    source: str
    note: str


@dataclass
class Reply:
    """One asked question: what came back, when, and how it is judged."""

    id: str
    kind: str
    question: str
    text: str
    outcome: str
    first_s: float  # first handled-chunk, or handled when no chunk came
    handled_s: float
    fact: bool = False  # an expected answer is in the text
    numeric: bool = False  # the text states a number or a code
    expected: bool = False  # the question has expected answers


def load_set(name: str) -> tuple[Path, list[Question]]:
    folder = SETS / name
    lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return folder / "docs", [Question(**json.loads(line)) for line in lines if line.strip()]


# --- judging text ------------------------------------------------------------------------------------


def canon(text: str) -> str:
    """Lower case, one space between words; keeps `.`/`:` inside numbers and unit signs, drops other marks."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 6,000 -> 6000
    text = re.sub(r"[^\w.:£$€%°' ]|(?<!\d)[.:]|[.:](?!\d)|'", " ", text)
    return " ".join(text.split())


def fact_pattern(expect: str) -> re.Pattern[str]:
    """`expect` as whole words (a plural `s` allowed: Monday, Mondays); digits separated by a space or dash may
    also stand together (01632 960 584 = 01632960584, 0-6-2-8 = 0628)."""
    pieces = re.split(r"(?<=\d) (?=\d)", canon(expect))
    body = "[ ]?".join(re.escape(piece) for piece in pieces)
    return re.compile(rf"(?<!\w){body}s?(?!\w)")


def has_fact(text: str, expect: list[str]) -> bool:
    said = canon(text)
    return any(fact_pattern(alternative).search(said) for alternative in expect)


_NUMBER_WORDS = r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred"


def states_number_or_code(text: str) -> bool:
    """A digit, a spelled number, or a code-like token (letters and digits, or a dash-joined code)."""
    return bool(re.search(rf"\d|\b({_NUMBER_WORDS})\b|\b[A-Z]{{2,}}-", text, re.IGNORECASE))


def outcome_of(context: dict, text: str) -> str:
    if isinstance(context.get("xnai_outcome"), str):
        return context["xnai_outcome"]
    start = text.strip().lower().replace("\u2019", "'")
    return next((outcome for prefix, outcome in TEXT_OUTCOMES if start.startswith(prefix)), "answered")


# --- asking ------------------------------------------------------------------------------------------


async def ask(uri: str, question: Question) -> Reply:
    """One question on a fresh connection, as Home Assistant asks it."""
    context = {"conversation_id": uuid.uuid4().hex}
    first = float("nan")
    started = time.perf_counter()
    try:
        with anyio.fail_after(ASK_TIMEOUT):
            async with AsyncClient.from_uri(uri) as client:
                await client.write_event(Transcript(text=question.question, language="en", context=context).event())
                while True:
                    event = await client.read_event()
                    elapsed = time.perf_counter() - started
                    if event is None:
                        return _reply(question, "", "closed", first, elapsed)
                    if event.type == "handled-chunk" and first != first:
                        first = elapsed
                    elif event.type == "handled":
                        text = event.data.get("text") or ""
                        outcome = outcome_of(event.data.get("context") or {}, text)
                        return _reply(question, text, outcome, first, elapsed)
                    elif event.type in ("error", "not-handled"):
                        return _reply(question, event.data.get("text") or "", event.type, first, elapsed)
    except TimeoutError:
        return _reply(question, "", "timeout", first, time.perf_counter() - started)


def _reply(question: Question, text: str, outcome: str, first: float, handled: float) -> Reply:
    return Reply(
        question.id, question.kind, question.question, text, outcome,
        handled if first != first else first, handled,
        fact=bool(question.expect) and has_fact(text, question.expect), numeric=states_number_or_code(text),
        expected=bool(question.expect),
    )  # fmt: skip


@dataclass(frozen=True)
class Side:
    """One checkout's servers: the interpreter of its venv, its folder, extra `xnai handle` flags."""

    python: str
    cwd: Path | None
    flags: str

    @property
    def label(self) -> str:
        return (self.cwd or Path.cwd()).name


def start_handle(name: str, side: Side, stack: ExitStack) -> Server:
    """Index the set's notes into a fresh data dir and start `xnai handle` on them (warmed up)."""
    from wyoming_xnai.settings import PathSettings

    workdir = Path(tempfile.mkdtemp(prefix=f"xnai-bench-answers-{name}-"))
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)  # after the server has stopped
    env = {**server_env(workdir / "data"), "XNAI_MODELS_DIR": str(PathSettings().models_dir),
           "XNAI_HANDLE_LLM_TIMEOUT": LLM_TIMEOUT}  # fmt: skip
    argv = [side.python, "-m", "wyoming_xnai", "ingest", str(SETS / name / "docs")]
    ingest = subprocess.run(argv, env=env, cwd=side.cwd, capture_output=True, text=True)
    if ingest.returncode != 0:
        raise SystemExit(f"xnai ingest failed for {name} in {side.label}:\n{ingest.stdout}{ingest.stderr}")
    server = stack.enter_context(
        Server.xnai("handle", *shlex.split(side.flags), env=env, python=side.python, cwd=side.cwd)
    )
    server.wait(timeout=300)
    anyio.run(ask, server.uri, Question("warm-up", "general", WARM_UP, [], "", ""), backend="asyncio")
    return server


def run_set(name: str, sides: list[Side], repeat: int, step: int = 1) -> list[list[Reply]]:
    """Every `step`th question `repeat` times to each side's server, taking turns question by question."""
    questions = load_set(name)[1][::step]
    replies: list[list[Reply]] = [[] for _ in sides]
    with ExitStack() as stack:
        servers = [start_handle(name, side, stack) for side in sides]
        for round_ in range(repeat):
            for question in questions:
                for side, server, got in zip(sides, servers, replies, strict=True):
                    reply = anyio.run(ask, server.uri, question, backend="asyncio")
                    got.append(reply)
                    print(f"[{name} {round_ + 1}/{repeat} {side.label}] {question.id} {reply.outcome}: "
                          f"{reply.text[:100]}", file=sys.stderr)  # fmt: skip
    return replies


# --- reporting ---------------------------------------------------------------------------------------


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / total:.0f} %)" if total else "0/0"


def _seconds(values: list[float]) -> str:
    return f"{median(values):.2f} s / {percentile(values, 90):.2f} s"


def failed(reply: Reply) -> str | None:
    """Why this reply does not meet its kind's goal (None when it does); foreign and general are only shown."""
    if reply.kind == "answerable" and not reply.fact:
        return "confidently wrong" if reply.outcome == "answered" and reply.numeric else "fact missing"
    if reply.kind == "unanswerable" and reply.outcome != "not_in_notes":
        return "invented" if reply.outcome in INVENTED else f"no abstention ({reply.outcome})"
    if reply.kind == "garbled" and reply.outcome != "ask_again":
        return "echoed or invented" if reply.outcome in INVENTED else f"not asked again ({reply.outcome})"
    if reply.kind == "foreign" and not reply.fact and reply.outcome in INVENTED:
        return "for information: answered without the fact"
    if reply.kind == "general" and reply.outcome not in INVENTED:
        return f"for information: {reply.outcome}"
    if reply.kind == "general" and reply.expected and not reply.fact:
        return "for information: answered without the fact"
    return None


def summary(replies: list[Reply]) -> dict[str, str]:
    """The report's measures, in order, for one server's replies."""
    kind = {k: [r for r in replies if r.kind == k] for k in ("answerable", "unanswerable", "garbled", "foreign", "general")}
    answerable, unanswerable, garbled = kind["answerable"], kind["unanswerable"], kind["garbled"]
    foreign, general = kind["foreign"], kind["general"]
    outcomes = Counter(r.outcome for r in replies)
    return {
        "facts found (answerable)": _share(sum(r.fact for r in answerable), len(answerable)),
        "confidently wrong (answerable: answered, no fact, states a number or code)":
            str(sum(failed(r) == "confidently wrong" for r in answerable)),
        "invented answers (unanswerable)": _share(sum(r.outcome in INVENTED for r in unanswerable), len(unanswerable)),
        "correct abstentions (unanswerable: not in notes)":
            _share(sum(r.outcome == "not_in_notes" for r in unanswerable), len(unanswerable)),
        "asked again (garbled)": _share(sum(r.outcome == "ask_again" for r in garbled), len(garbled)),
        "garbled: not in notes / answered":
            f"{sum(r.outcome == 'not_in_notes' for r in garbled)} / {sum(r.outcome in INVENTED for r in garbled)}",
        "foreign: fact found / answered without it / other":
            f"{sum(r.fact for r in foreign)} / {sum(not r.fact and r.outcome in INVENTED for r in foreign)} / "
            f"{sum(r.outcome not in INVENTED for r in foreign)}",
        "general: answered / abstained or other":
            f"{sum(r.outcome in INVENTED for r in general)} / {sum(r.outcome not in INVENTED for r in general)}",
        "first handled-chunk, all questions: median / p90": _seconds([r.first_s for r in replies]),
        "handled, all questions: median / p90": _seconds([r.handled_s for r in replies]),
        "handled, answerable: median / p90": _seconds([r.handled_s for r in answerable]),
        "outcomes": ", ".join(f"{k} {v}" for k, v in outcomes.most_common()),
    }  # fmt: skip


def _ratio(replies: list[list[Reply]], field: str) -> str:
    first, second = (median([getattr(r, field) for r in side]) for side in replies)
    return f"**{first / second:.2f}**" if second else "n/a"


def report(name: str, sides: list[Side], replies: list[list[Reply]], repeat: int, load: str) -> str:
    """Markdown: one column of measures per side (and their speed ratio), then every reply that missed."""
    columns = [summary(side_replies) for side_replies in replies]
    rows = [[measure, *(column[measure] for column in columns)] for measure in columns[0]]
    if len(sides) == 2:
        rows.append([f"median handled, {sides[0].label} / {sides[1].label}", _ratio(replies, "handled_s"), ""])
        rows.append([f"median first chunk, {sides[0].label} / {sides[1].label}", _ratio(replies, "first_s"), ""])
    lines = [f"## Answers: {name} set, {len({r.id for r in replies[0]})} questions x {repeat}", ""]
    lines += [f"- `{s.label}`: `{s.python}` in `{s.cwd}`, handle flags `{s.flags or '(none)'}`" for s in sides]
    turns = "; the servers take turns question by question" if len(sides) > 1 else ""
    lines += ["", f"{load} (at the end of the run){turns}.", ""]
    lines += [table(["measure", *(s.label for s in sides)], rows), ""]
    for side, side_replies in zip(sides, replies, strict=True):
        lines += [f"### {side.label}: replies that miss their goal", ""]
        for reply in side_replies:
            if why := failed(reply):
                text = reply.text.replace("\n", " ") or "(nothing)"
                lines.append(f"- `{reply.id}` {why}: \"{reply.question}\" -> ({reply.outcome}) \"{text}\"")
        lines.append("")
    return "\n".join(lines)


def check(name: str) -> int:
    """Every answerable question's expected answer must be in its source note (as the indexer reads it)."""
    from wyoming_xnai.rag.documents import document_text, find_documents

    docs, questions = load_set(name)
    notes = {found.path.name: document_text(found) for found in find_documents([docs])[0]}
    problems = [q.id for q in questions if q.source and q.source not in notes]
    problems += [q.id for q in questions if q.kind == "answerable" and not has_fact(notes[q.source], q.expect)]
    problems += [q.id for q in questions if q.kind in ("unanswerable", "garbled") and q.expect]
    kinds = Counter(q.kind for q in questions)
    print(f"{name}: {len(notes)} notes, {dict(kinds)}; problems: {problems or 'none'}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["dev", "holdout", "fresh", "all"], default="dev", help="Which evaluation set")
    parser.add_argument("--repeat", type=int, default=1, help="Rounds over the questions")
    parser.add_argument("--quick", action="store_true", help=f"Every {QUICK_STEP}th question only (a smoke run)")
    parser.add_argument("--out", type=Path, help="Also write the whole report to this file")
    parser.add_argument("--jsonl", type=Path, help="Write every reply as one JSON line to this file")
    parser.add_argument("--python", default=sys.executable, help="Interpreter that runs `xnai ingest` and `xnai handle`")
    parser.add_argument("--cwd", type=Path, help="Working folder of the servers (default: above --python's venv)")
    parser.add_argument("--handle-flags", default="", help="Extra flags for `xnai handle`, one shell-quoted string")
    parser.add_argument("--versus", metavar="PYTHON", help="Also run another checkout's servers (its venv's python), "
                        "side by side, and report the speed ratio")  # fmt: skip
    parser.add_argument("--versus-flags", default="", help="Extra `xnai handle` flags for the --versus servers")
    parser.add_argument("--check", action="store_true", help="Only check the sets against their notes")
    parser.add_argument("--rejudge", type=Path, metavar="JSONL", help="Only rebuild the reports from a --jsonl file")
    args = parser.parse_args(argv)
    names = ["dev", "holdout", "fresh"] if args.set == "all" else [args.set]
    if args.check:
        return max(check(name) for name in names)
    if args.rejudge:
        return write(*rejudge(args.rejudge), args)
    sides = [Side(args.python, args.cwd or _checkout(args.python), args.handle_flags)]
    if args.versus:
        sides.append(Side(args.versus, _checkout(args.versus), args.versus_flags))
    reports, records = {}, []
    for name in names:
        replies = run_set(name, sides, args.repeat, QUICK_STEP if args.quick else 1)
        load = load_average()
        reports[name] = report(name, sides, replies, args.repeat, load)
        for side, got in zip(sides, replies, strict=True):
            where = {"python": side.python, "cwd": str(side.cwd), "flags": side.flags, "load": load}
            records += [{"set": name, **where, **asdict(reply)} for reply in got]
    return write(reports, records, args)


def write(reports: dict[str, str], records: list[dict], args: argparse.Namespace) -> int:
    RESULTS.mkdir(exist_ok=True)
    for name, text in reports.items():
        (RESULTS / f"answers-{name}.md").write_text(text)
    print("\n".join(reports.values()))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(reports.values()))
    if args.jsonl:
        args.jsonl.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    return 0


def rejudge(path: Path) -> tuple[dict[str, str], list[dict]]:
    """Reports rebuilt from a --jsonl file, each reply judged again by today's rules and expected answers."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    reports = {}
    for name in dict.fromkeys(r["set"] for r in records):
        questions = {q.id: q for q in load_set(name)[1]}
        rows = [r for r in records if r["set"] == name]
        sides = [Side(r["python"], Path(r["cwd"]), r["flags"]) for r in {r["cwd"]: r for r in rows}.values()]
        replies = []
        for side in sides:
            got = [r for r in rows if r["cwd"] == str(side.cwd)]
            replies.append([_reply(questions[r["id"]], r["text"], r["outcome"], r["first_s"], r["handled_s"]) for r in got])
        repeat = len(replies[0]) // len({r.id for r in replies[0]})
        reports[name] = report(name, sides, replies, repeat, f"{rows[-1]['load']}, judged again from {path}")
    return reports, records


def _checkout(python: str) -> Path:
    """The checkout a venv interpreter belongs to: <checkout>/.venv/bin/python (not resolved: venvs link out)."""
    return Path(python).absolute().parent.parent.parent


if __name__ == "__main__":
    sys.exit(main())
