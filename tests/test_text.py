"""The shared text rules (wyoming_xnai.text): in-process, no models."""

from __future__ import annotations

from wyoming_xnai.text.clauses import clause_end, starts_phrase, word_cut
from wyoming_xnai.text.cleaning import clean_for_speech, has_sayable_text, one_line_for_speech
from wyoming_xnai.text.sentences import SentenceStream, sentence_end, split_sentences
from wyoming_xnai.text.words import any_phrase, content_words, fact_key, facts, stem


def test_one_sentence_rule_for_whole_and_streamed_text() -> None:
    text = "Ask Dr. Rowe at 10 a.m. tomorrow. It costs 3.5 pounds! Is that all? Yes."
    assert split_sentences(text) == ["Ask Dr. Rowe at 10 a.m. tomorrow.", "It costs 3.5 pounds!", "Is that all?", "Yes."]
    stream = SentenceStream()
    streamed = [s for ch in text for s in stream.feed(ch)] + [stream.flush()]
    assert streamed == split_sentences(text)  # the same sentences, however the text arrives


def test_a_sentence_is_complete_once_a_space_follows_it() -> None:
    assert sentence_end("It is in the shed.", final=False) is None  # "shed.com"? more may come
    assert sentence_end("It is in the shed. ", final=False) == len("It is in the shed.")
    assert sentence_end("Call Dr. ", final=False) is None  # an abbreviation: the name follows
    assert split_sentences("1. Open the valve.\n2. Wait.") == ["1. Open the valve.", "2. Wait."]  # list numbers
    assert sentence_end("It is 2.", final=False) is None  # "2.4" may be coming


def test_clause_cuts_never_split_numbers() -> None:
    assert clause_end("It costs 1,000 pounds, paid monthly", 1, 100) == len("It costs 1,000 pounds,")
    assert word_cut("The spare house key is under the blue flower pot by the garage", 5) is not None
    assert starts_phrase("Under") and starts_phrase("and") and not starts_phrase("key")


def test_cleaning_for_speech() -> None:
    assert clean_for_speech("**Bold** [[ h ]] 🙂 at 21°C") == "Bold [ h ] at 21°C"
    assert one_line_for_speech("## Boiler\n- The code is `1234`;") == "Boiler The code is 1234"
    assert has_sayable_text("It's 5") and not has_sayable_text("🙂 ... !")


def test_words_stems_and_facts() -> None:
    assert stem("collected") == stem("collection") == stem("collects")
    assert stem("batteries") == stem("battery")
    assert content_words("Where is the spare key?") == {"spar", "key"}
    assert facts("Mrs. Okafor at number 14 waters the plants on Tuesday.") == ["Okafor", "14", "Tuesday"]
    assert facts("Hartwell Heating, phone 555 0142.") == ["Heating", "555", "0142"]  # a first word says nothing
    assert fact_key("4-7-1-9") == fact_key("4719") and fact_key("KX19") == "kx19"


def test_a_unit_after_a_number_is_not_an_initial() -> None:
    assert split_sentences("Weekends run at 20.5 °C. The boost gives an hour.") == [
        "Weekends run at 20.5 °C.",
        "The boost gives an hour.",
    ]
    assert split_sentences("Counselor: Ms. Quist, ext. 214.") == ["Counselor: Ms. Quist, ext. 214."]


def test_a_phrase_list_matches_whole_words_anywhere_or_only_at_the_start() -> None:
    greeting = any_phrase("hi", "good (morning|night)", at_start=True)
    assert greeting.search("  Good Morning, house") and greeting.search("hi")
    assert not greeting.search("say hi") and not greeting.search("history")
    asked = any_phrase("e-?mail", "how (?:much|many)")
    assert asked.search("What is the EMAIL of Bob?") and asked.search("how many bins")
    assert not asked.search("emails") and not asked.search("somehow much")

