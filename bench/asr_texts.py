"""What bench/asr.py has spoken: everyday requests, long dictations, and questions about documents.

The document questions are about tests/data/docs and bench/asr_docs (made-up household notes full of
names no model has heard: people, brands, places). The general requests share no such names, so they
show whether a vocabulary hint harms speech it was not made for.
"""

from __future__ import annotations

from pathlib import Path

from bench.support import FACTS

DOCS = [Path(__file__).parent / "asr_docs", Path(__file__).parents[1] / "tests" / "data" / "docs"]

GENERAL = [
    "turn on the kitchen lights",
    "what is the weather like tomorrow",
    "set a timer for ten minutes",
    "what is the capital of france",
    "play some relaxing music in the living room and turn the volume down a little",
    "switch off the bedroom lamp",
    "how long does it take to boil an egg",
    "remind me to call my sister at six o'clock",
    "is it going to rain this afternoon",
    "add milk and bread to the shopping list",
    "close the garage door",
    "what time is it in new york",
    "set the thermostat to twenty one degrees",
    "who wrote the novel pride and prejudice",
    "how many days are there until christmas",
    "lock the front door and turn off all the lights downstairs",
    "what is the tallest mountain in the world",
    "wake me up at seven thirty tomorrow morning",
    "open the blinds in the office",
    "how far is it from london to edinburgh",
    "turn the heating down by two degrees",
    "what is twelve times fifteen",
    "pause the music",
    "tell me a joke about cats",
]

DICTATIONS = [
    "Please remember that the plumber is coming on Thursday between nine and eleven in the morning. "
    "Someone has to be at home to let him in, and the boiler cupboard has to be cleared before he arrives. "
    "Leave the spare key with the neighbours if nobody can stay.",
    "Shopping list for the weekend: two loaves of brown bread, a dozen eggs, a bag of rice, some fresh "
    "tomatoes and cucumbers, washing powder, and a birthday card for the party on Saturday afternoon.",
    "Note for the children. Homework has to be finished before any television. On Wednesdays there is "
    "swimming after school, so pack the towels and goggles the night before and do not forget the padlock.",
]

DOMAIN = [f.question for f in FACTS] + [
    "Which brand is our dishwasher?",
    "What does error F14 on the dishwasher mean?",
    "Who services the Aga every September?",
    "Where is the dehumidifier kept?",
    "How do I descale the Sage coffee machine?",
    "What fuel does the Honda lawnmower take?",
    "When does Priya prune the wisteria?",
    "How do I clean the Oase pond pump?",
    "When does Grandma Rosalind call?",
    "Where does Grandma Rosalind live?",
    "Which town does Uncle Tobias live in?",
    "When are the piano lessons with Mrs Szymanska?",
    "Where do I pick up Ffion the babysitter?",
    "What is the name of our dentist?",
    "Who keeps the spare car keys?",
]
