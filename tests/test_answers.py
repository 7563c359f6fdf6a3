"""Answer rules in-process (no LLM, no server): streaming grounding, the answerability decision, the
question checks and the answer cache. End-to-end behaviour is in test_handle.py."""

from __future__ import annotations

import numpy as np

from wyoming_xnai.handle import replies
from wyoming_xnai.handle.answer_cache import AnswerCache
from wyoming_xnai.handle.evidence import Lexicon, answer_type, assess
from wyoming_xnai.handle.grounding import Grounding, _keeps_whole_amounts, recites_prompt, supported
from wyoming_xnai.handle.notes import Note
from wyoming_xnai.handle.question import fragment, misheard, other_language, small_talk, social_reply

TYRES = Note("The tyre pressure is 2.4 bar at the front and 2.6 bar at the back.", "car.pdf", 1.0, 0.7, "Car")
BOILER = Note("The boiler service company is Hartwell Heating, phone 555 0142.", "appliances.md", 1.0, 0.7)


def stream(grounding: Grounding, pieces: list[str], complete: bool = True) -> tuple[list[str], bool]:
    """Feed pieces as the LLM streams them; what was said, and whether generation was stopped."""
    said: list[str] = []
    for piece in pieces:
        step = grounding.feed(piece)
        said += step.say
        if step.stop:
            return said + grounding.finish(complete=False), True
    return said + grounding.finish(complete), False


def test_a_supported_answer_streams_its_first_clause_early() -> None:
    g = Grounding("Which company services the boiler?", BOILER)
    said, stopped = stream(g, ["Hartwell", " Heating", ",", " phone", " 555", " 0142", "."])
    assert said == ["Hartwell Heating,", "phone 555 0142."] and not stopped
    assert g.text == "Hartwell Heating, phone 555 0142." and not g.extractive


def test_a_number_from_nowhere_stops_generation_and_the_note_is_said() -> None:
    g = Grounding("What is the boiler company's phone number?", BOILER)
    said, stopped = stream(g, ["It", " is", " 555", " 0199", " and"])
    assert stopped and g.extractive
    assert said == ["The boiler service company is Hartwell Heating, phone 555 0142."]


def test_a_value_with_the_wrong_qualifier_is_not_said() -> None:
    question = "What pressure do the rear tyres need?"
    assert not supported("The rear tyres need 2.4 bar.", question, TYRES)  # 2.4 is the front's
    assert supported("The tyres need 2.4 bar at the front and 2.6 bar at the back.", question, TYRES)
    assert supported("They need 2.6 bar.", "What pressure do the back tyres need?", TYRES)
    g = Grounding(question, TYRES)
    said, _ = stream(g, ["The", " rear", " tyres", " need", " 2.4", " bar", "."])
    assert said == ["The tyre pressure is 2.4 bar at the front and 2.6 bar at the back."]  # the whole note


def test_an_answer_from_another_clause_than_the_one_asked_about_is_not_said() -> None:
    pets = Note("The cat is allergic to chicken, so she only eats the duck and rabbit food.", "pets.html", 1.0, 0.7)
    question = "What is the cat allergic to?"
    assert not supported("It is a duck.", question, pets)  # "duck" is in the note, but not what it is allergic to
    assert supported("She is allergic to chicken.", question, pets)
    assert supported("Chicken, so she eats the duck food.", question, pets)  # the asked clause's word is said too
    assert supported("She eats the duck and rabbit food.", "What food does the cat eat?", pets)
    reel = Note("The garden hose reel is behind the shed, and it needs a new washer.", "garden.md", 1.0, 0.7)
    assert supported("It needs a new washer.", "What washer does the garden hose reel need?", reel)  # asks both
    g = Grounding(question, pets)
    said, _ = stream(g, ["It", " is", " a", " duck", "."])
    assert said == ["The cat is allergic to chicken, so she only eats the duck and rabbit food."]  # the note


def test_an_amount_given_in_parts_is_said_whole() -> None:
    """"15 minutes" for "3 hours 15 minutes" is another amount: only the whole one holds up."""
    dishwasher = Note("Dishwasher: salt every month; the eco programme takes 3 hours 15 minutes.", "k.md", 1.0, 0.7)
    question = "How long does the eco wash take?"
    assert not supported("15 minutes.", question, dishwasher)
    assert supported("The eco programme takes 3 hours 15 minutes.", question, dishwasher)
    walk = Note("The walk to the lake takes 1 hour and 20 minutes; it is 5 km each way.", "walks.txt", 1.0, 0.7)
    assert not supported("It takes 20 minutes.", "How long is the walk to the lake?", walk)
    assert _keeps_whole_amounts("It is 5 km each way.", walk.text)  # not part of the walk's time


def test_words_from_another_note_are_not_said() -> None:
    question = "Which company services the boiler?"
    assert not supported("Hartwell Heating services it every May at Pellow Motors.", question, BOILER)
    assert not supported("Which company services the boiler.", question, BOILER)  # the question back


def test_an_answer_without_notes_must_not_recite_the_prompt() -> None:
    assert recites_prompt("The capital of France is Paris.", "?yek esuoh eht si erehW")
    assert not recites_prompt("The capital of France is Paris.", "What is the capital of France?")
    echo = Grounding("what's the soccer coach's name?", None)
    assert stream(echo, ["It's", " the", " soccer", " coach", "."])[0] == []  # the question back says nothing
    g = Grounding("🚗🔑", None)
    said, _ = stream(g, ["The", " capital", " of", " France", " is", " Paris", "."])
    assert said == [] and g.rejected


def lexicon(*notes: Note) -> Lexicon:
    from wyoming_xnai.text.words import content_words, facts, stem

    words = frozenset(w for n in notes for w in content_words(n.text))
    names = frozenset(stem(f) for n in notes for f in facts(n.text) if not any(c.isdigit() for c in f))
    return Lexicon(words, names)


def test_the_note_that_answers_is_found_and_a_near_miss_is_refused() -> None:
    alarm = Note("The house alarm code is 5820.", "house.txt", 1.2, 0.62)
    yaris = Note("The Yaris takes 0W-20 engine oil.", "cars.pdf", 1.1, 0.6)
    volvo = Note("The Volvo was serviced in January.", "cars.pdf", 0.9, 0.5)
    lex = lexicon(alarm, yaris, volvo, TYRES)
    assert assess("What is the house alarm code?", [alarm, yaris], lex)[0].supports
    assert not assess("What is the garage alarm code?", [alarm], lex)[0].supports  # another alarm
    assert assess("Which oil does the Yaris take?", [yaris, volvo], lex)[0].note is yaris
    assert not any(e.supports for e in assess("Which oil does the Volvo take?", [yaris, volvo], lex))  # another car
    assert not assess("Who services the house alarm?", [alarm], lex)[0].supports  # no name in the note
    assert answer_type("When is the bin collected?") == "time" and answer_type("Where is the key?") == "place"
    assert answer_type("Who is the vet?") == "person" and answer_type("What is the wifi code?") == "number"


def test_question_checks() -> None:
    assert other_language("Wie hoch ist der Reifendruck vorne?") == "de"
    assert other_language("Где запасной ключ от дома?") == "non-latin"
    assert other_language("Where is the spare key?") is None and other_language("Hello") is None
    assert other_language("Where is the key?", {"language": "fr"}) == "fr"  # the ASR heard French
    assert misheard("🐶🔑❓") and misheard("?edoc mrala eht si tahw") and misheard("the the what what is")
    assert other_language("?gnimmiws eht si nehw") is None and misheard("?gnimmiws eht si nehw")  # English backwards
    assert other_language("Wo ist der Schlüssel für die Garage?") == "de"  # not reversed: still foreign
    assert not misheard("Where is the spare house key?")
    assert not misheard("where is Rory's EpiPen?", lexicon=Lexicon(frozenset({"rory", "epipen"}), frozenset()))
    assert misheard("Where is the spare key?", {"avg_logprob": -1.4})  # the ASR itself was unsure
    assert small_talk("Hello, how are you?") and small_talk("thank you, that's all") and not small_talk("Where?")
    assert fragment("and um") and not fragment("the bins")
    assert social_reply("thank you, that's all") == replies.WELCOME and social_reply("Goodbye for now") == replies.GOODBYE
    assert social_reply("Hello, how are you?") == replies.HOW_I_AM and social_reply("good morning") == replies.GREETING
    assert social_reply("thanks, and where is the key?") is None  # a question after the thanks is answered
    assert social_reply("hi, what is the wifi password?") is None and social_reply("Where?") is None
    assert answer_type("what's the number for ordering heating oil?") == "phone"  # a number to ring
    assert answer_type("what is the plumber's number?") == "phone"
    assert answer_type("what's the policy number for the car insurance?") == "number"  # its kind is said
    assert answer_type("what is the number of hens?") == "number"  # a count


def test_answer_cache_exact_similar_bounded_and_expiring() -> None:
    now = [0.0]
    cache = AnswerCache(size=2, similarity=0.9, ttl=10, clock=lambda: now[0])
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    cache.put("Which day is the bin collection?", "Thursday.", ["house.txt"], a)
    assert cache.exact("which day is the BIN collection").answer == "Thursday."  # normalised
    near = np.array([0.95, 0.31], np.float32)
    hit = cache.similar(near / np.linalg.norm(near))
    assert hit is not None and hit[0].answer == "Thursday."
    assert cache.similar(b) is None
    cache.put("q2", "a2", [], b)
    cache.put("q3", "a3", [], None)
    assert len(cache) == 2 and cache.exact("Which day is the bin collection?") is None  # least recent dropped
    now[0] = 11
    assert cache.exact("q2") is None and len(cache) == 1  # expired, and so dropped
    cache.put("", "x", [], None)
    assert len(cache) == 1  # a question of no words is not kept


def test_the_decision_weighs_paraphrase_and_missing_attribute() -> None:
    """A missing verb ("charge") or a synonym ("guaranteed" / "warranty") weighs less than a missing
    attribute ("wattage"); the kind asked for includes phone numbers and email addresses."""
    from wyoming_xnai.handle.evidence import has_type, question_verbs, weigh
    from wyoming_xnai.index.embed import load_embedder
    from wyoming_xnai.settings import EmbedSettings
    from wyoming_xnai.text.words import stem

    assert stem("charge") in question_verbs("how much does Pete charge to do the hedges?")
    assert stem("feeds") in question_verbs("who feeds the cat when we're away?")
    assert stem("pay") in question_verbs("how much do we pay the babysitter?")
    assert not question_verbs("what wattage are the spare light bulbs?")
    assert answer_type("what's the dentist's phone number?") == "phone" and answer_type("what's Chloe's email?") == "email"
    assert has_type("Phone 01632 960 584.", "phone") and not has_type("Check-ups every 6 months.", "phone")
    assert not has_type("Chloe Winter: babysitting, 07700 900 731", "email")

    embedder = load_embedder(EmbedSettings())
    lex = Lexicon(frozenset(), frozenset(), lambda words: embedder.embed(words))
    warranty = Note("Warranty until March 2027.", "heating.md", 1.0, 0.5, "Heating > Boiler")
    bulbs = Note("Spare light bulbs are in the plastic crate in the garage.", "house.txt", 1.0, 0.5, "LIGHTS")
    question = "how long is the boiler guaranteed for?"
    assert weigh(question, warranty, lex).synonym > weigh(question, bulbs, lex).synonym  # "warranty" is nearer
    assert weigh("how long is the boiler warranty?", warranty, lex).synonym == 1.0  # nothing missing
    assert not assess("what wattage are the spare light bulbs?", [bulbs], lex)[0].supports


def test_the_typed_slot_rule_and_its_guards() -> None:
    """A note that fills the slot asked for and names every word of the question but its verbs supports
    it; an attribute or a thing the note does not name, a heading's other member, a name that is a place
    or the question's own, a start time for an end, or only units in common, do not."""
    from wyoming_xnai.handle.evidence import weigh
    from wyoming_xnai.handle.slots import new_names, slot

    lex = Lexicon(frozenset(), frozenset())
    recycling = Note("Blue bin (recycling): every other Thursday.", "house.txt", 1.0, 0.5, "BINS")
    assert weigh("when do they pick up the recycling?", recycling, lex).slotted  # "pick up" is paraphrased
    subscription = Note("The subscription is renewed each March, £48 a year.", "house.txt", 1.0, 0.5, "BINS > Brown bin (garden waste)")
    assert weigh("how much does the garden waste bin cost us a year?", subscription, lex).slotted  # £ stands for "cost"
    assert not weigh("how much does the garden waste bin weigh?", subscription, lex).slotted  # no weight in it
    bulbs = Note("Spare light bulbs: 4 in the crate.", "house.txt", 1.0, 0.5, "LIGHTS")
    assert not weigh("how many watts are the spare light bulbs?", bulbs, lex).slotted  # an attribute it lacks
    serial = Note("Meter serial E17K 04482.", "house.txt", 1.0, 0.5, "WATER, GAS, ELECTRIC > Electric meter: in the garage.")
    gas = weigh("what's the serial number of the gas meter?", serial, lex)
    assert gas.conflicts and not gas.supports  # the heading lists gas, the note is about the electric meter
    swimming = Note("Swimming (Isla): Mondays 5:30 to 6:15 pm at Fenwick Leisure Centre.", "kids.md", 1.0, 0.5)
    assert not weigh("who teaches Isla swimming?", swimming, lex).type_ok  # a place and the question's own name
    assert new_names("The vet is Dr. Hannah Pryce at Oakhill Vets.", "who's the dog's vet?") == ["Dr Hannah Pryce"]
    piano = Note("Piano (Isla): Thursdays at 4:15 with Mrs. Ostrowska.", "kids.md", 1.0, 0.5)
    assert not weigh("what time does Isla's piano lesson finish?", piano, lex).type_ok  # 4:15 is when it starts
    assert weigh("what time does Isla's swimming finish?", swimming, lex).type_ok  # "to 6:15 pm"
    roast = Note("Roast at 190 °C fan for 1 hour 20 minutes.", "recipes.md", 1.0, 0.5, "Recipes > Roast chicken")
    assert weigh("what temperature do I roast the chicken at?", roast, lex).slotted
    assert not weigh("how many minutes are there in an hour?", roast, lex).slotted  # only units in common
    assert slot("how cold should the freezer be?", None).fine == "temperature"
    assert slot("how much does Pete charge for the hedges?", "number").fine == "money"


def test_the_note_said_plainly_is_its_clause_that_fills_the_slot() -> None:
    from wyoming_xnai.handle.grounding import best_clause

    note = "Chloe Winter: babysitting; Phone 07700 900 731; Notes £12 an hour, home by 11 pm"
    assert best_clause(note, "how much do we pay the babysitter?") == "Notes £12 an hour, home by 11 pm."
    assert best_clause(note, "what's the babysitter's phone number?") == "Phone 07700 900 731."


def test_a_place_answer_names_the_notes_place_down_to_its_last_word() -> None:
    key = Note("The bleed key is in the jar on the kitchen windowsill.", "heating.md", 1.0, 0.6)
    assert not supported("It is in the kitchen.", "where's the radiator key?", key)  # true, but less than the note
    assert supported("It is in the jar on the kitchen windowsill.", "where's the radiator key?", key)
    stopcock = Note("Stopcock: under the kitchen sink, behind the bleach.", "house.txt", 1.0, 0.6)
    assert supported("It is under the sink.", "where is the stopcock?", stopcock)


def test_a_question_of_no_kind_needs_all_its_words_and_a_new_fact_and_the_likeliest_note() -> None:
    lex = Lexicon(frozenset(), frozenset())
    spare = Note("Mrs. Eileen Doughty, next door: she keeps a spare front door key.", "contacts.html", 1.0, 0.5, "Contacts > Neighbours")
    assert assess("which neighbour has a spare key?", [spare], lex)[0].supports
    assert not assess("which neighbour has a spare bike?", [spare], lex)[0].supports  # a word it lacks
    diesel = Note("It is a DIESEL: never put petrol in it.", "cars.pdf", 1.0, 0.68, "Tom's car")
    adblue = Note("AdBlue is topped up every 6,000 miles; the filler is next to the fuel cap.", "cars.pdf", 1.0, 0.5, "Tom's car")
    chosen = assess("what fuel goes in Tom's car?", [diesel, adblue], lex)[0]
    assert chosen.note is not adblue or not chosen.supports  # it names every word, but the other note is likelier
