"""The answer evaluation sets stay consistent with their notes, and the bench judges answers as documented."""

from __future__ import annotations

import pytest

from bench.answers import SETS, check, has_fact, load_set, outcome_of, states_number_or_code


@pytest.mark.parametrize("name", ["dev", "holdout", "fresh"])
def test_every_answerable_question_is_answered_by_its_note(name: str) -> None:
    assert check(name) == 0
    _, questions = load_set(name)
    kinds = {q.kind for q in questions}
    assert kinds == {"answerable", "unanswerable", "garbled", "foreign", "general"}
    assert len({q.id for q in questions}) == len(questions)


def test_sets_cover_every_document_format() -> None:
    for name in ("dev", "holdout", "fresh"):
        suffixes = {path.suffix for path in (SETS / name / "docs").iterdir()}
        assert {".txt", ".md", ".html", ".pdf"} <= suffixes, name


@pytest.mark.parametrize(
    ("answer", "expect", "found"),
    [
        ("Call 01632960584.", ["01632 960 584"], True),
        ("The number is 01632 960 584.", ["01632 960 584"], True),
        ("The shed code is 0628.", ["0-6-2-8"], True),
        ("Set it to minus 18 degrees.", ["-18", "minus 18"], True),
        ("The rear tyres take 2.55 bar.", ["2.5"], False),
        ("The rear tyres take 12.5 bar.", ["2.5"], False),
        ("It goes out on Mondays.", ["Monday"], True),
        ("It's copper kettle 82.", ["copper-kettle-82"], True),
        ("About 6,000 miles.", ["6000"], True),
        ("Dr. Pryce at Oakhill.", ["Pryce"], True),
        ("Dr. Pryceman.", ["Pryce"], False),
    ],
)
def test_fact_matching_tolerates_spacing_but_not_other_numbers(answer: str, expect: list[str], found: bool) -> None:
    assert has_fact(answer, expect) is found


def test_outcome_comes_from_the_context_else_from_the_honest_sentences() -> None:
    assert outcome_of({"xnai_outcome": "ask_again"}, "Anything.") == "ask_again"
    assert outcome_of({}, "I don\u2019t have that in your notes.") == "not_in_notes"
    assert outcome_of({}, "Sorry, I didn't catch that.") == "ask_again"
    assert outcome_of({}, "Sorry, I do not know the answer to that.") == "not_in_notes"
    assert outcome_of({}, "My language model is not working right now, but my notes say: x") == "degraded"
    assert outcome_of({}, "The bin goes out on Monday night.") == "answered"


def test_numbers_and_codes_are_recognised() -> None:
    assert states_number_or_code("It is 2.4 bar.")
    assert states_number_or_code("Two scoops.")
    assert states_number_or_code("Policy HG-5531.")
    assert not states_number_or_code("In the shed, on the hook.")
