"""The household's words: chosen from documents, written by ingest, fitted into the ASR's hint (in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_facts import DOCS
from wyoming_xnai.asr.hints import SEPARATOR, Hints, closest, fit, hint_words, unfamiliar, with_hinted_words
from wyoming_xnai.errors import ModelMissingError
from wyoming_xnai.models import assemble
from wyoming_xnai.vocabulary import distinctive_terms, document_terms_file, read_terms, write_terms


def test_names_inside_sentences_come_first_with_their_capital() -> None:
    texts = [
        "The boiler is serviced by Hartwell every spring. Ask Hartwell for the invoice.\n"
        "- Dishwasher: clean the filter monthly. Our Miele needs salt.\n"
        "Plants are watered by Mrs. Okafor; the watering can is in the shed, the shed key too."
    ]
    terms = distinctive_terms(texts)
    assert terms[:3] == ["Hartwell", "Miele", "Okafor"]  # names, the most frequent first
    assert "shed" in terms and "Dishwasher" not in terms and "dishwasher" in terms  # a line's first word is no name
    assert not {"the", "is", "by", "Ask", "ask"} & set(terms)  # short words, and capitals only at a sentence start


def test_terms_file_round_trip(tmp_path: Path) -> None:
    path = document_terms_file(tmp_path)
    write_terms(path, ["Hartwell", "dehumidifier"])
    path.write_text(path.read_text() + "\n# a comment\n  living   room  # the big one\n")
    assert read_terms(path) == ["Hartwell", "dehumidifier", "living room"]
    assert not list(path.parent.glob("*.partial"))


def fake_tokens(text: str) -> int:
    """A stand-in tokenizer: every 4 letters are a token, punctuation is one."""
    return sum(1 + len(w) // 4 for w in text.replace(",", " ,").split())


def test_hint_keeps_phrases_first_and_only_unfamiliar_document_words(tmp_path: Path) -> None:
    assert list(unfamiliar(["kitchen", "Szymanska", "dog"], lambda t: 1 if len(t) < 9 else 3)) == ["Szymanska"]
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("Living Room\nGarden Lights\n")
    documents = document_terms_file(tmp_path)
    write_terms(documents, ["Okafor", "dog", "Venkataraman", "Achterberg"])
    hints = Hints(phrases, documents, budget=17)

    def first(budget: int) -> str:  # the pool's first terms within a budget
        return SEPARATOR.join(fit(hints.pool(fake_tokens), fake_tokens, budget))

    assert first(17) == "Living Room, Garden Lights, Okafor, Venkataraman"
    write_terms(documents, ["Szymanska"])  # a new ingest: picked up on the next utterance, without a restart
    assert first(17) == "Living Room, Garden Lights, Szymanska"


def test_a_lower_case_word_needs_three_pieces_to_count_as_unusual() -> None:
    pieces = {" serviced": 2, " dehumidifier": 4, " Okafor": 2, " okafor": 2}.get
    assert list(unfamiliar(["serviced", "dehumidifier", "Okafor"], lambda t: pieces(t, 1))) == ["dehumidifier", "Okafor"]


def test_fit_stops_at_the_budget_and_skips_repeats() -> None:
    assert fit(["Alpha", "alpha", "Beta", "Gamma"], fake_tokens, budget=6) == ["Alpha", "Beta"]
    assert fit(["Alpha"], fake_tokens, budget=0) == []


TERMS = {"achterberg", "dehumidifier", "venkataraman"}


@pytest.mark.parametrize(
    ("plain", "hinted", "merged"),
    [  # the hinted decode may put a hinted word only where the plain one heard something spelt like it
        ("Royal Doctor Ash Turbine tomorrow.", "Call Dr. Achterberg tomorrow.", "Royal Doctor Achterberg tomorrow."),
        ("Empty the DQ modifier.", "Empty the dehumidifier.", "Empty the dehumidifier."),
        ("Call the dentist tomorrow.", "Claude Venkataraman tomorrow.", "Call the dentist tomorrow."),
        ("Turn on the kitchen lights.", "Ternenverkitchen lights", "Turn on the kitchen lights."),
        ("Ash Turbine tomorrow.", "Ash, de Venkataraman, tomorrow.", "Ash Turbine tomorrow."),
    ],
)
def test_a_hint_changes_only_words_that_sound_like_it(plain: str, hinted: str, merged: str) -> None:
    assert with_hinted_words(plain, hinted, TERMS) == merged


def test_the_hint_holds_the_terms_spelt_like_what_was_heard() -> None:
    assert closest("Call Dr. Ash Turbine tomorrow", TERMS) == ["achterberg"]
    assert closest("Empty the DQ modifier and call Dr. Achterberg", TERMS) == ["dehumidifier"]  # heard already: not hinted
    assert closest("turn on the kitchen lights", TERMS) == []
    assert closest("Living rum lights", ["Living Room", "Garden"]) == ["Living Room"]  # a phrase is spelt as one word


def test_a_hint_is_chosen_per_utterance_within_the_budget(tmp_path: Path) -> None:
    documents = document_terms_file(tmp_path)
    write_terms(documents, ["Okafor", "Venkataraman", "Achterberg", "Szymanska"])
    hints = Hints(None, documents, budget=17)
    assert hints.near("Ask Mrs Shimanska and Dr Ash Turbine", fake_tokens) == "Szymanska, Achterberg."
    assert hints.near("Turn on the kitchen lights", fake_tokens) == ""
    assert Hints(None, documents, budget=0).near("Ask Mrs Shimanska", fake_tokens) == ""


def test_of_a_phrase_only_its_unusual_words_may_replace_heard_ones() -> None:
    known = lambda text: 1 if len(text.strip()) <= 7 else 3  # noqa: E731 - a tokenizer that knows short words
    assert hint_words("Living Room, Achterberg", known) == {"achterberg"}  # of a phrase, only its unusual words


def test_missing_or_absent_files_give_no_hint(tmp_path: Path) -> None:
    assert Hints(tmp_path / "nowhere.txt", document_terms_file(tmp_path), budget=40).pool(fake_tokens) == []
    assert Hints(None, None, budget=40).pool(fake_tokens) == []


def test_assembly_checks_the_checksum_and_leaves_nothing_behind(tmp_path: Path) -> None:
    parts = [tmp_path / "a", tmp_path / "b"]
    parts[0].write_bytes(b"hello ")
    parts[1].write_bytes(b"world")
    target = tmp_path / "models" / "model.bin"
    with pytest.raises(ModelMissingError, match="checksum"):
        assemble(parts, target, "0" * 64, "test")
    assert not target.exists() and not list(target.parent.iterdir())
    assemble(parts, target, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", "test")
    assert target.read_bytes() == b"hello world"


def test_ingest_writes_the_documents_words(tmp_path: Path) -> None:
    from wyoming_xnai.rag.ingest import ingest
    from wyoming_xnai.settings import IngestSettings

    settings = IngestSettings(data_dir=tmp_path)
    ingest([DOCS], settings, progress=False)
    terms = read_terms(document_terms_file(tmp_path))
    assert {"Hartwell", "Okafor"} <= set(terms)
