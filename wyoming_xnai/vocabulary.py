"""The household's own words: picked from its documents, kept in a file the speech recognizer reads.

Ingest writes the words of the indexed documents here; the ASR reads this file (and the user's own
phrases file) to bias recognition toward names of places, brands and things. Services never import
each other, so this small shared module is the whole contract between them: a text file of terms,
one per line, most useful first, replaced atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

DOCUMENT_TERMS = Path("vocabulary") / "documents.txt"
MAX_TERMS = 2000  # the ASR uses a few dozen; more would only make the file slow to rank
# letters with inner apostrophes or hyphens ("O'Brien", "Rolls-Royce"); numbers and codes are not words to bias
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*")
_TITLE = re.compile(r"(?:^|\W)[A-Z][a-z]{0,2}$")
_BEFORE_WORD = (
    " \t-*•#>\"“‘'([|"  # bullets, quotes and brackets that may stand between a sentence end and its first word
)


def document_terms_file(data_dir: Path) -> Path:
    return data_dir / DOCUMENT_TERMS


def distinctive_terms(texts: Iterable[str], limit: int = MAX_TERMS) -> list[str]:
    """Words of the texts, names first, then by how often they occur.

    A word written with a capital letter inside a sentence is a name (a place, brand, person, pet) and
    keeps its capital. Short words are left out: they are the language's common words, which any speech
    model knows. Which of these words a given model actually needs help with is its own business (the
    ASR asks its tokenizer).
    """
    counts: Counter[str] = Counter()
    proper: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for text in texts:
        for match in _WORD.finditer(text):
            word = match.group()
            if len(word) < 4:
                continue
            key = word.lower()
            counts[key] += 1
            if word[0].isupper() and not word.isupper() and not _starts_sentence(text, match.start()):
                proper[key] += 1
                spelling.setdefault(key, word)
    names = [k for k in counts if proper[k] * 2 > counts[k]]  # mostly written with a capital mid-sentence
    others = [k for k in counts if k not in set(names)]
    names.sort(key=lambda k: -counts[k])
    others.sort(key=lambda k: -counts[k])
    return [spelling.get(k, k) if k in proper else k for k in names + others][:limit]


def _starts_sentence(text: str, start: int) -> bool:
    before = text[max(0, start - 12) : start].rstrip(_BEFORE_WORD)
    if before.endswith(".") and _TITLE.search(before[:-1]):
        return False  # "Mrs. Okafor", "Dr. Rowe": a title, not the end of a sentence
    return not before or before[-1] in ".!?:;\n"


def read_terms(path: Path) -> list[str]:
    """Terms or phrases from a file, one per line; blank lines and `#` comments are skipped."""
    terms = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if line:
            terms.append(line)
    return terms


def write_terms(path: Path, terms: Iterable[str]) -> None:
    """Replace the file atomically, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".partial", delete=False) as out:
        out.write("".join(f"{term}\n" for term in terms))
    os.replace(out.name, path)


def write_document_terms(data_dir: Path, texts: Iterable[str]) -> None:
    write_terms(document_terms_file(data_dir), distinctive_terms(texts))
