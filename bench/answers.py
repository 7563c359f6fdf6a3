"""Answer quality on the evaluation sets: facts found, invented answers, honest abstentions, asking again, latency.

    uv run python -m bench.answers [--set dev|holdout|all] [--repeat N] [--out FILE] [--jsonl FILE]
                                   [--python PATH] [--cwd DIR] [--handle-flags "..."] [--check]

For each set in bench/data/answers/ the notes are indexed into a fresh data dir (`xnai ingest`), one
`xnai handle` is started on a free loopback port, and every question is asked on a fresh TCP connection
exactly as Home Assistant does: `transcript {text, language: "en", context: {conversation_id: <new>}}`, read
until `handled`. Times are taken to the first `handled-chunk` and to `handled`.

The outcome of an answer is `handled.context["xnai_outcome"]` when the server sends one, else it is read from
the text (the honest sentences below). `--python` (and `--cwd`, default: the folder above that venv) runs
the servers from another checkout, to measure its code with these questions. `--check` only proves every
answerable question's answer is in its note, without a server. Reports go to bench/results/answers-<set>.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
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
    """`expect` as whole words; digits separated by a space or dash may also stand together (01632960584)."""
    pieces = re.split(r"(?<=\d) (?=\d)", canon(expect))
    body = "[ ]?".join(re.escape(piece) for piece in pieces)
    return re.compile(rf"(?<!\w){body}(?!\w)")


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
    )  # fmt: skip


def run_set(name: str, args: argparse.Namespace) -> list[Reply]:
    """Index the set's notes, start one handle server, ask every question `repeat` times."""
    from wyoming_xnai.settings import Settings

    docs, questions = load_set(name)
    workdir = Path(tempfile.mkdtemp(prefix=f"xnai-bench-answers-{name}-"))
    env = {**server_env(workdir / "data"), "XNAI_MODELS_DIR": str(Settings().models_dir),
           "XNAI_HANDLE_LLM_TIMEOUT": LLM_TIMEOUT}  # fmt: skip
    ingest = subprocess.run(
        [args.python, "-m", "wyoming_xnai", "ingest", str(docs)], env=env, cwd=args.cwd, capture_output=True, text=True
    )
    if ingest.returncode != 0:
        raise SystemExit(f"xnai ingest failed for {name}:\n{ingest.stdout}{ingest.stderr}")
    flags = shlex.split(args.handle_flags)
    replies = []
    with Server.xnai("handle", *flags, env=env, python=args.python, cwd=args.cwd) as server:
        server.wait(timeout=300)
        anyio.run(ask, server.uri, Question("warm-up", "general", WARM_UP, [], "", ""), backend="asyncio")
        for round_ in range(args.repeat):
            for question in questions:
                reply = anyio.run(ask, server.uri, question, backend="asyncio")
                replies.append(reply)
                print(f"[{name} {round_ + 1}/{args.repeat}] {question.id} {reply.outcome}: {reply.text[:100]}",
                      file=sys.stderr)  # fmt: skip
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
    return None


def summary_rows(replies: list[Reply]) -> list[list[str]]:
    kinds = {k: [r for r in replies if r.kind == k] for k in ("answerable", "unanswerable", "garbled", "foreign", "general")}
    answerable, unanswerable, garbled = kinds["answerable"], kinds["unanswerable"], kinds["garbled"]
    foreign, general = kinds["foreign"], kinds["general"]
    wrong = sum(failed(r) == "confidently wrong" for r in answerable)
    outcomes = Counter(r.outcome for r in replies)
    return [
        ["facts found (answerable)", _share(sum(r.fact for r in answerable), len(answerable))],
        ["confidently wrong (answerable: answered, no fact, states a number or code)", str(wrong)],
        ["invented answers (unanswerable)", _share(sum(r.outcome in INVENTED for r in unanswerable), len(unanswerable))],
        ["correct abstentions (unanswerable: not in notes)",
         _share(sum(r.outcome == "not_in_notes" for r in unanswerable), len(unanswerable))],
        ["asked again (garbled)", _share(sum(r.outcome == "ask_again" for r in garbled), len(garbled))],
        ["garbled: not in notes / answered",
         f"{sum(r.outcome == 'not_in_notes' for r in garbled)} / {sum(r.outcome in INVENTED for r in garbled)}"],
        ["foreign: fact found / answered without it / other",
         f"{sum(r.fact for r in foreign)} / {sum(not r.fact and r.outcome in INVENTED for r in foreign)} / "
         f"{sum(r.outcome not in INVENTED for r in foreign)}"],
        ["general: answered / abstained or other", f"{sum(r.outcome in INVENTED for r in general)} / "
         f"{sum(r.outcome not in INVENTED for r in general)}"],
        ["first handled-chunk, all questions: median / p90", _seconds([r.first_s for r in replies])],
        ["handled, all questions: median / p90", _seconds([r.handled_s for r in replies])],
        ["handled, answerable: median / p90", _seconds([r.handled_s for r in answerable])],
        ["outcomes", ", ".join(f"{k} {v}" for k, v in outcomes.most_common())],
    ]  # fmt: skip


def report(name: str, replies: list[Reply], args: argparse.Namespace, load: str) -> str:
    questions = len({r.id for r in replies})
    lines = [
        f"## Answers: {name} set, {questions} questions x {args.repeat}",
        "",
        f"Servers: `{args.python}` in `{args.cwd or Path.cwd()}`, handle flags `{args.handle_flags or '(none)'}`; "
        f"{load} (at the end of the run).",
        "",
        table(["measure", "value"], summary_rows(replies)),
        "",
        "### Questions that miss their goal",
        "",
    ]
    for reply in replies:
        why = failed(reply)
        if why:
            text = reply.text.replace("\n", " ") or "(nothing)"
            lines.append(f"- `{reply.id}` {why}: \"{reply.question}\" -> ({reply.outcome}) \"{text}\"")
    return "\n".join(lines) + "\n"


def check(name: str) -> int:
    """Every answerable question's expected answer must be in its source note (as the indexer reads it)."""
    from wyoming_xnai.rag.documents import read_text

    docs, questions = load_set(name)
    notes = {path.name: read_text(path) for path in docs.iterdir()}
    problems = [q.id for q in questions if q.source and q.source not in notes]
    problems += [q.id for q in questions if q.kind == "answerable" and not has_fact(notes[q.source], q.expect)]
    problems += [q.id for q in questions if q.kind in ("unanswerable", "garbled") and q.expect]
    kinds = Counter(q.kind for q in questions)
    print(f"{name}: {len(notes)} notes, {dict(kinds)}; problems: {problems or 'none'}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["dev", "holdout", "all"], default="dev", help="Which evaluation set")
    parser.add_argument("--repeat", type=int, default=1, help="Rounds over the questions")
    parser.add_argument("--out", type=Path, help="Also write the whole report to this file")
    parser.add_argument("--jsonl", type=Path, help="Write every reply as one JSON line to this file")
    parser.add_argument("--python", default=sys.executable, help="Interpreter that runs `xnai ingest` and `xnai handle`")
    parser.add_argument("--cwd", type=Path, help="Working folder of the servers (default: above --python's venv)")
    parser.add_argument("--handle-flags", default="", help="Extra flags for `xnai handle`, one shell-quoted string")
    parser.add_argument("--check", action="store_true", help="Only check the sets against their notes")
    args = parser.parse_args(argv)
    names = ["dev", "holdout"] if args.set == "all" else [args.set]
    if args.check:
        return max(check(name) for name in names)
    if args.cwd is None and args.python != sys.executable:
        args.cwd = Path(args.python).absolute().parent.parent.parent  # <checkout>/.venv/bin/python
    reports, replies = [], []
    for name in names:
        results = run_set(name, args)
        replies += results
        reports.append(report(name, results, args, load_average()))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"answers-{name}.md").write_text(reports[-1])
    print("\n".join(reports))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(reports))
    if args.jsonl:
        args.jsonl.write_text("".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in replies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
