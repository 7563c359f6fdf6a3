"""Made-up household facts in tests/data/docs/ that no language model can know.

Handle, ask and satellite tests ask `question` and expect `keyword` (case-insensitive) in the answer and
`source` (a file name in DOCS) among the cited sources. Questions avoid words the ASR mishears ("wifi").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).parent / "data" / "docs"


@dataclass(frozen=True)
class Fact:
    question: str
    keyword: str
    source: str


FACTS: list[Fact] = [
    Fact("Where is the spare house key?", "flower pot", "house.txt"),
    Fact("Which day is the bin collection?", "Thursday", "house.txt"),
    Fact("Where is the water stopcock?", "sink", "house.txt"),
    Fact("Who waters the plants when we are away?", "Okafor", "house.txt"),
    Fact("Which company services the boiler?", "Hartwell", "appliances.md"),
    Fact("What is the phone number of the boiler service company?", "0142", "appliances.md"),
    Fact("What is the router admin password?", "marigold", "appliances.md"),
    Fact("Which batteries do the smoke alarms take?", "9 volt", "appliances.md"),
    Fact("Who is the dog's vet?", "Rowe", "pets.html"),
    Fact("What is the cat allergic to?", "chicken", "pets.html"),
    Fact("What does Biscuit eat?", "salmon", "pets.html"),
    Fact("Where is the garden tap key?", "shed", "garden_and_car.pdf"),
    Fact("What is the car insurance policy number?", "LM-88231", "garden_and_car.pdf"),
    Fact("What tyre pressure does the car need at the front?", "2.4", "garden_and_car.pdf"),
    Fact("What is the bicycle lock combination?", "4-7-1-9", "garden_and_car.pdf"),
]

# Spoken-question subset for end-to-end voice tests, the first one heard word for word by Whisper tiny.en
# (the tests' ASR) from espeak-ng: "the spare house key" comes out as "the stairhouse key", a thing the
# notes do not have, and handle rightly says so.
SPOKEN: list[Fact] = [FACTS[4], FACTS[1], FACTS[9], FACTS[0]]
