"""Fit the answerability constants of wyoming_xnai/handle/evidence.py on an evaluation set (retrieval only).

    uv run python -m bench.answerability [--set dev] [--show]

Indexes the set's notes, retrieves notes for every question as handle does, and weighs them
(`evidence.assess`). Prints each question's best evidence (with --show) and, for a grid of the decision's
constants, how many answerable questions keep a supporting note that holds an expected answer and how
many unanswerable ones would get one. Fit on dev only: holdout is for reporting.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

from wyoming_xnai.handle import evidence
from wyoming_xnai.handle.chain import Answerer
from wyoming_xnai.rag.ingest import ingest
from wyoming_xnai.settings import Settings

SETS = Path(__file__).resolve().parent / "data" / "answers"
GRID = {
    "MIN_SIMILARITY": [0.25, 0.3, 0.35, 0.4],
    "MIN_SHARE": [0.3, 0.4, 0.5, 0.6, 0.67],
    "MAX_MISSING": [0, 1, 2],
    "COMMON_RANK": [2500, 3000, 3500, 4000, 5000],
}


def weighed(name: str) -> list[tuple[dict, list, evidence.Lexicon]]:
    data = Path(tempfile.mkdtemp(prefix=f"xnai-answerability-{name}-"))
    settings = Settings(data_dir=data)
    ingest([SETS / name / "docs"], settings, progress=False)
    answerer = Answerer(settings)
    out = []
    for line in (SETS / name / "questions.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q["kind"] not in ("answerable", "unanswerable"):
            continue
        notes, _, lexicon = answerer.retrieve(q["question"])
        out.append((q, notes[: evidence.CANDIDATES], lexicon))
    return out


def holds(q: dict, e: evidence.Evidence) -> bool:
    text = f"{e.note.text} {e.note.context}".lower()
    return any(x.lower() in text for x in q["expect"])


def score(items) -> tuple[int, int, int, int]:
    """(answerable with a right supporting note, answerable, unanswerable given a note, unanswerable)."""
    right = wrong = n_ans = n_una = 0
    for q, notes, lexicon in items:
        ranked = evidence.assess(q["question"], notes, lexicon)
        best = ranked[0] if ranked and ranked[0].supports else None
        if q["kind"] == "answerable":
            n_ans += 1
            right += best is not None and holds(q, best)
        else:
            n_una += 1
            wrong += best is not None
    return right, n_ans, wrong, n_una


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="dev")
    parser.add_argument("--show", action="store_true", help="Print every question's best evidence")
    args = parser.parse_args()
    items = weighed(args.set)
    if args.show:
        for q, notes, lexicon in items:
            best = evidence.assess(q["question"], notes, lexicon)[0]
            print(f"{q['kind'][:4]} sup={best.supports:d} sim={best.note.similarity:.2f} m={best.matched}/{best.terms} "
                  f"names={best.missing_names} common={best.missing} specific={best.missing_specific} "
                  f"type={best.type_ok:d} "
                  f"holds={holds(q, best):d} | {q['question']} -> {best.note.text[:70]}")
    results = []
    for values in itertools.product(*GRID.values()):
        for name, value in zip(GRID, values, strict=True):
            setattr(evidence, name, value)
        right, n_ans, wrong, n_una = score(items)
        results.append((wrong, -right, values))
    results.sort()
    print(" ".join(GRID), "-> answerable with the right note, unanswerable given a note")
    for wrong, right, values in results[:15]:
        print(values, f"{-right}/{n_ans}", f"{wrong}/{n_una}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
