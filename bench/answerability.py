"""Fit the answerability model of wyoming_xnai/handle/evidence.py on an evaluation set (retrieval only).

    uv run python -m bench.answerability                  # fit on dev, print WEIGHTS and the curve
    uv run python -m bench.answerability --report holdout # also apply the fitted model to holdout
    uv run python -m bench.answerability --show           # every question's best evidence

Indexes the set's notes, retrieves notes for every question as handle does and weighs them
(`evidence.assess`). Every candidate that passes the hard rules (the kind of thing asked for, the
names the question mentions) is one example, labelled by whether it holds an expected answer; an
L2-regularised logistic regression over `Evidence.features` gives the weights (the candidates of
unanswerable questions weigh 10x: an invented answer is the worse error). Then, for each threshold,
the curve: answerable questions whose chosen note holds the answer (facts found), whose chosen note
does not (wrong note), and unanswerable questions that get a note (invented), once with the weights
fitted on all questions and once with each question left out of its own fit; the threshold is chosen
on the left-out curve. Fit on dev only: holdout is for reporting.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.answers import has_fact
from wyoming_xnai.handle import evidence
from wyoming_xnai.handle.chain import Answerer
from wyoming_xnai.rag.ingest import ingest
from wyoming_xnai.settings import HandleSettings, IngestSettings

SETS = Path(__file__).resolve().parent / "data" / "answers"
L2 = 1.0  # on standardised features: few examples (about 100 questions), so keep the weights small
UNANSWERABLE_WEIGHT = 10.0  # an invented answer costs more than a missed fact: its candidates weigh more
THRESHOLDS = [round(t, 2) for t in np.arange(0.05, 1.0, 0.05)]


def weighed(name: str) -> list[tuple[dict, list[evidence.Evidence]]]:
    """Each answerable or unanswerable question of the set with the evidence of its candidates."""
    data = Path(tempfile.mkdtemp(prefix=f"xnai-answerability-{name}-"))
    ingest([SETS / name / "docs"], IngestSettings(data_dir=data), progress=False)
    answerer = Answerer(HandleSettings(data_dir=data))
    out = []
    for line in (SETS / name / "questions.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q["kind"] in ("answerable", "unanswerable"):
            notes, _, lexicon = answerer.retrieve(q["question"])
            out.append((q, evidence.assess(q["question"], notes, lexicon)))
    return out


def holds(q: dict, e: evidence.Evidence) -> bool:
    return bool(q["expect"]) and has_fact(e.note.text, q["expect"])


def eligible(e: evidence.Evidence) -> bool:
    return e.type_ok and e.missing_names == 0 and e.matched > 0


def fit(items) -> dict[str, float]:
    names = [n for n in evidence.WEIGHTS if n != "bias"]
    rows, labels, weights = [], [], []
    for q, weighed_ in items:
        for e in weighed_:
            if eligible(e):
                f = e.features()
                rows.append([f[n] for n in names])
                labels.append(float(holds(q, e)))
                weights.append(UNANSWERABLE_WEIGHT if q["kind"] == "unanswerable" else 1.0)
    bias, coef = logistic(np.asarray(rows), np.asarray(labels), np.asarray(weights))
    return {"bias": round(bias, 3)} | {n: round(float(v), 3) for n, v in zip(names, coef, strict=True)}


def logistic(x: np.ndarray, y: np.ndarray, sw: np.ndarray) -> tuple[float, np.ndarray]:
    """Bias and weights of an L2-regularised logistic regression of labels `y` on rows `x` (sample
    weights `sw`), fitted on standardised features and returned for the raw ones."""
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(4000):  # gradient descent: convex, small
        g = sw * (1 / (1 + np.exp(-(z @ w + b))) - y)
        w -= 0.5 * (z.T @ g + L2 * w) / sw.sum()
        b -= 0.5 * float(g.sum()) / sw.sum()
    coef = w / scale
    return b - float(coef @ mean), coef


def held_out(items) -> list[tuple[dict, list[evidence.Evidence], dict[str, float]]]:
    """Each question with the weights fitted on all the others (leave one out): the curve they give
    shows what to expect on questions the fit has not seen, so the threshold is chosen on it."""
    return [(q, w, fit(items[:i] + items[i + 1 :])) for i, (q, w) in enumerate(items)]


def curve(items, thresholds) -> list[tuple[float, int, int, int]]:
    """(threshold, facts found, wrong note, invented); items may carry their own weights (`held_out`)."""
    out = []
    fitted = dict(evidence.WEIGHTS)
    for t in thresholds:
        evidence.THRESHOLD = t
        found = wrong = invented = 0
        for q, weighed_, *weights in items:
            evidence.WEIGHTS.update(weights[0] if weights else fitted)
            best = sorted(weighed_, key=evidence.Evidence.rank)
            chosen = best[0] if best and best[0].supports else None
            if chosen is None:
                continue
            if q["kind"] == "unanswerable":
                invented += 1
            elif holds(q, chosen):
                found += 1
            else:
                wrong += 1
        out.append((t, found, wrong, invented))
    evidence.WEIGHTS.update(fitted)
    return out


def counts(items) -> tuple[int, int]:
    return sum(q["kind"] == "answerable" for q, _ in items), sum(q["kind"] == "unanswerable" for q, _ in items)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="dev", help="Set to fit on")
    parser.add_argument("--report", help="Also apply the fitted model to this set (holdout: report only)")
    parser.add_argument("--max-invented", type=int, default=1, help="Invented answers allowed at the chosen point")
    parser.add_argument("--show", action="store_true", help="Print every question's best evidence")
    args = parser.parse_args()
    items = weighed(args.set)
    evidence.WEIGHTS.update(fit(items))
    print("WEIGHTS =", json.dumps(evidence.WEIGHTS, indent=1))
    fitted = curve(items, THRESHOLDS)
    unseen = curve(held_out(items), THRESHOLDS)
    n_ans, n_una = counts(items)
    # the chosen point: on the held-out curve, most facts found with at most --max-invented invented answers
    best = max((p for p in unseen if p[3] <= args.max_invented), key=lambda p: (p[1], p[0]), default=unseen[-1])
    print(f"THRESHOLD = {best[0]}  ({args.set}, left out: facts found {best[1]}/{n_ans}, wrong note {best[2]}, "
          f"invented {best[3]}/{n_una})")
    report = weighed(args.report) if args.report else None
    other = curve(report, THRESHOLDS) if report else [None] * len(fitted)
    print(f"threshold | {args.set} fitted: found, wrong note, invented | {args.set} left out: the same"
          + (f" | {args.report}: the same" if report else ""))
    for p, u, o in zip(fitted, unseen, other, strict=True):
        tail = f" | {o[1]:3d} {o[2]:3d} {o[3]:3d}" if o else ""
        print(f"{p[0]:.2f}      | {p[1]:3d} {p[2]:3d} {p[3]:3d} | {u[1]:3d} {u[2]:3d} {u[3]:3d}{tail}")
    if report:
        n_ans, n_una = counts(report)
        print(f"{args.report} has {n_ans} answerable and {n_una} unanswerable questions")
    if args.show:
        evidence.THRESHOLD = best[0]
        for q, weighed_ in items:
            b = sorted(weighed_, key=evidence.Evidence.rank)[:1]
            if b:
                e = b[0]
                print(f"{q['kind'][:4]} sup={e.supports:d} p={e.probability:.2f} holds={holds(q, e):d} | {q['question']} -> {e.note.text[:70]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
