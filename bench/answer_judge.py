"""Can the bundled LLM judge whether a note answers a question? Its scores, tried as answerability features.

    uv run python -m bench.answer_judge [--set dev] [--candidates 3]

For every answerable or unanswerable question of the set, the best candidates of the answerability model
(`evidence.assess`, the ones passing its hard rules, at most --candidates) are scored by the LLM (the
bundled Gemma 3 270M unless --handle-model says otherwise), three ways:

- `yes_no`: logit(" Yes") - logit(" No") after a few-shot prompt "Does the note answer the question?"
  (its examples are made up here, about a library and a bike lock, not taken from any set);
- `pmi_sum`, `pmi_min`: per token of the question, how much more likely the model finds it after the
  note than without it (pointwise mutual information); summed, and its least token;
- `answer_pmi`: the same for the note's tokens after the question: does the question make the note
  more likely (the note as the answer span)?

Each score is reported as an AUC (candidates holding an expected answer against the candidates of
unanswerable questions: 0.5 is chance) and as the leave-one-out curve of bench.answerability with the
score added to the logistic model's features (same L2, same 10x weight for unanswerable questions).
Retrieval features only, with no score added, is the baseline row. Measure on dev; holdout only to report.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench import answerability as ab
from wyoming_xnai.handle import evidence
from wyoming_xnai.handle.llm import Llm
from wyoming_xnai.settings import Settings

YES_NO = (
    "Does the note answer the question?\n\n"
    "Note: The library opens at 9 am on weekdays and 10 am on Saturdays.\n"
    "Question: When does the library open on Saturday?\nAnswer in the note: Yes\n\n"
    "Note: The library opens at 9 am on weekdays and 10 am on Saturdays.\n"
    "Question: What is the library's phone number?\nAnswer in the note: No\n\n"
    "Note: Our bikes are locked in the shed; the lock code is 4471.\n"
    "Question: What's the combination for the bike lock?\nAnswer in the note: Yes\n\n"
    "Note: Our bikes are locked in the shed; the lock code is 4471.\n"
    "Question: What's the code for the garage door?\nAnswer in the note: No\n\n"
)
PMI_HEAD = "Notes and the questions they answer.\n\n"
SCORES = ["yes_no", "pmi_sum", "pmi_min", "answer_pmi"]


class Scorer:
    """Log-probabilities from the loaded model (llama.cpp keeps the longest common prefix in its KV cache)."""

    def __init__(self, llm: Llm) -> None:
        llm.load()
        self.llama = llm._llama
        self.vocab = self.llama.n_vocab()
        self.yes = self.llama.tokenize(b" Yes", add_bos=False)[0]
        self.no = self.llama.tokenize(b" No", add_bos=False)[0]

    def _eval(self, tokens: list[int], every: bool) -> None:
        llama = self.llama
        keep = 0
        while keep < min(llama.n_tokens, len(tokens) - 1) and llama.input_ids[keep] == tokens[keep]:
            keep += 1
        llama.n_tokens = keep
        llama._logits_all = every
        try:
            llama.eval(tokens[keep:])
        finally:
            llama._logits_all = False

    def yes_no(self, note: str, question: str) -> float:
        prompt = f"{YES_NO}Note: {note}\nQuestion: {question}\nAnswer in the note:"
        self._eval(self.llama.tokenize(prompt.encode(), add_bos=True), every=False)
        logits = np.ctypeslib.as_array(self.llama._ctx.get_logits(), shape=(self.vocab,))
        return float(logits[self.yes] - logits[self.no])

    def token_logprobs(self, prefix: str, text: str) -> np.ndarray:
        """Log-probability of each token of `text` after `prefix`."""
        head = self.llama.tokenize(prefix.encode(), add_bos=True)
        tokens = head + self.llama.tokenize(text.encode(), add_bos=False)
        self._eval(tokens, every=True)
        rows = np.asarray(self.llama.scores[len(head) - 1 : len(tokens) - 1], dtype=np.float64)
        top = rows.max(axis=1, keepdims=True)
        logz = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        return rows[np.arange(len(rows)), tokens[len(head) :]] - logz


def judged(
    items, scorer: Scorer, candidates: int, scores: list[str]
) -> list[tuple[dict, list[tuple[evidence.Evidence, dict]]]]:
    """Each question's candidates with their LLM scores (none for candidates past the best few)."""
    out = [(q, [(e, {}) for e in weighed]) for q, weighed in items]
    chosen = [sorted((c for c in cands if ab.eligible(c[0])), key=lambda c: -c[0].probability)[:candidates] for _, cands in out]
    for (q, _), cands in zip(out, chosen, strict=True):  # one prompt kind at a time: its prefix stays cached
        for e, s in cands if "yes_no" in scores else []:
            s["yes_no"] = scorer.yes_no(e.note.text, q["question"])
    for (q, _), cands in zip(out, chosen, strict=True) if "pmi_sum" in scores or "pmi_min" in scores else []:
        alone = scorer.token_logprobs(f"{PMI_HEAD}Question:", f" {q['question']}")
        for e, s in cands:
            gain = scorer.token_logprobs(f"{PMI_HEAD}Note: {e.note.text}\nQuestion:", f" {q['question']}") - alone
            s["pmi_sum"], s["pmi_min"] = float(gain.sum()), float(gain.min())
    for (q, _), cands in zip(out, chosen, strict=True) if "answer_pmi" in scores else []:
        for e, s in cands:
            after = scorer.token_logprobs(f"{PMI_HEAD}Question: {q['question']}\nNote:", f" {e.note.text}")
            s["answer_pmi"] = float((after - scorer.token_logprobs(f"{PMI_HEAD}Note:", f" {e.note.text}")).mean())
    return out


def auc(positive: list[float], negative: list[float]) -> float:
    if not positive or not negative:
        return float("nan")
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


def features(e: evidence.Evidence, scores: dict, extra: list[str]) -> list[float]:
    f = e.features()
    return [f[n] for n in evidence.WEIGHTS if n != "bias"] + [scores.get(k, 0.0) for k in extra]


def fit(items, extra: list[str], skip: int | None = None) -> tuple[float, np.ndarray]:
    rows, labels, weights = [], [], []
    for i, (q, cands) in enumerate(items):
        for e, s in cands:
            if i != skip and ab.eligible(e):
                rows.append(features(e, s, extra))
                labels.append(float(ab.holds(q, e)))
                weights.append(ab.UNANSWERABLE_WEIGHT if q["kind"] == "unanswerable" else 1.0)
    return ab.logistic(np.asarray(rows), np.asarray(labels), np.asarray(weights))


def left_out_curve(items, extra: list[str]) -> list[tuple[float, int, int, int]]:
    """(threshold, facts found, wrong note, invented) with each question left out of its own fit."""
    picks = []
    for i, (q, cands) in enumerate(items):
        bias, coef = fit(items, extra, skip=i)
        scored = [(1 / (1 + np.exp(-(bias + coef @ features(e, s, extra)))), e) for e, s in cands if ab.eligible(e)]
        picks.append((q, max(scored, key=lambda p: p[0], default=(0.0, None))))
    out = []
    for t in ab.THRESHOLDS:
        chosen = [(q, e) for q, (p, e) in picks if e is not None and p >= t]
        invented = sum(q["kind"] == "unanswerable" for q, _ in chosen)
        found = sum(q["kind"] == "answerable" and ab.holds(q, e) for q, e in chosen)
        out.append((t, found, len(chosen) - invented - found, invented))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="dev")
    parser.add_argument("--candidates", type=int, default=3, help="Best candidates per question the LLM scores")
    parser.add_argument("--scores", default=",".join(SCORES), help="LLM scores to try (answer_pmi is the slow one)")
    parser.add_argument("--limit", type=int, help="Only the first N questions (a quick check of the script)")
    args = parser.parse_args()
    items = ab.weighed(args.set)[: args.limit]
    started = time.perf_counter()
    scores = [k for k in args.scores.split(",") if k in SCORES]
    items = judged(items, Scorer(Llm(Settings())), args.candidates, scores)
    calls = sum(len(s) > 0 for _, cands in items for _, s in cands)
    print(f"{calls} candidates scored in {time.perf_counter() - started:.0f} s")
    n_ans, n_una = ab.counts([(q, c) for q, c in items])
    print(f"score | AUC holds vs unanswerable | left out, most facts found with invented <= 1 (of {n_ans}, {n_una})")
    curves = {}
    for extra in [[], *[[k] for k in scores]]:
        name = extra[0] if extra else "retrieval only"
        holding = [s[k] for q, c in items for e, s in c for k in extra if k in s and ab.holds(q, e)]
        unanswerable = [s[k] for q, c in items for e, s in c for k in extra if k in s and q["kind"] == "unanswerable"]
        curves[name] = left_out_curve(items, extra)
        best = max((p for p in curves[name] if p[3] <= 1), key=lambda p: (p[1], p[0]))
        score_auc = f"{auc(holding, unanswerable):.2f}" if extra else "-"
        print(f"{name:14s} | {score_auc:>4s} | t={best[0]:.2f} found {best[1]}, wrong {best[2]}, invented {best[3]}")
    print("threshold | " + " | ".join(curves))
    for i, t in enumerate(ab.THRESHOLDS):
        print(f"{t:.2f} | " + " | ".join("{:3d} {:2d} {:2d}".format(*c[i][1:]) for c in curves.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
