"""What handle says when it does not answer from the notes, and the outcome each answer is labelled with.

The outcome goes into the `handled` event's context as `xnai_outcome` (Home Assistant ignores it; the
bench and our satellite read it).
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    ANSWERED = "answered"  # from the notes, or small talk / general knowledge
    NOT_IN_NOTES = "not_in_notes"  # the notes do not say: honestly
    ASK_AGAIN = "ask_again"  # the question looked misheard
    NO_DOCUMENTS = "no_documents"  # no index: what xnai can do and how to add documents
    UNSUPPORTED_LANGUAGE = "unsupported_language"
    BUSY = "busy"
    DEGRADED = "degraded"  # a stage failed: a fallback answered


NOT_IN_NOTES = "I don't have that in your notes."
NOT_EXACTLY = "I don't have exactly that in your notes. The closest I have is:"
ASK_AGAIN = "Sorry, I didn't catch that. Could you say it again?"
EMPTY = "Sorry, I did not hear a question."
ENGLISH_ONLY = "Sorry, I only understand English for now."
NO_DOCUMENTS = (
    "I answer questions from your own notes, but none are indexed yet. "
    "Add your documents with xnai ingest and a folder, then ask me again."
)
CAPABILITIES = (
    "I answer questions from your household notes, like where things are, codes, phone numbers and "
    "appointments. I can also make small talk."
)
BUSY = "Sorry, I am busy answering other questions. Please ask me again in a moment."
DONT_KNOW = "Sorry, I do not know the answer to that."
WELCOME = "You're welcome."
GOODBYE = "Goodbye!"
GREETING = "Hello! Ask me anything about your household notes."
HOW_I_AM = "I'm fine, thank you. What would you like to know?"
