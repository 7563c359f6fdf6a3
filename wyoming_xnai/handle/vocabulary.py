"""English words and how common they are, from the MiniLM tokenizer's vocabulary (BERT uncased, ~21k
whole words). Its word pieces were chosen by frequency, so a word's position in it roughly ranks how
common the word is: "house" 2160, "garage" 7381, "dentist" 24385; a word missing from it is rare or no
English word at all."""

from __future__ import annotations

import json
from functools import cache


@cache
def _vocab() -> dict[str, int]:
    from wyoming_xnai.models import minilm_onnx

    vocab = json.loads(minilm_onnx().tokenizer.read_text())["model"]["vocab"]
    return {w: i for w, i in vocab.items() if w.isalpha() and w.islower()}


@cache
def english_words() -> frozenset[str]:
    return frozenset(_vocab())


def rank(word: str) -> int | None:
    """The word's place in the vocabulary (lower: more common), also as a plural; None if not in it."""
    word = word.lower()
    vocab = _vocab()
    for form in (word, word.removesuffix("s"), word.removesuffix("es")):
        if form in vocab:
            return vocab[form]
    return None
