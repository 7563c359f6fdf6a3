"""Shared text rules, used by retrieval (chunking), handle (streamed answers) and TTS (speech pieces).

- `sentences`: where a sentence ends (one rule, for whole and for streamed text) and the abbreviations.
- `clauses`: where a sentence may be cut short (clause marks, joining words, phrase starts).
- `cleaning`: text made fit to be spoken (markup, URLs, emoji and control characters out).
- `words`: content words of a text and their stems, for comparing a question, notes and an answer.

This package imports no service: the services stand on it.
"""
