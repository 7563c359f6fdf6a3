"""`xnai ask "question"`: answer one question from the command line, the same way the server does,
and print the sources used."""

from __future__ import annotations

import argparse
import logging
import sys

import anyio

from wyoming_xnai.handle.chain import Answerer, source_names
from wyoming_xnai.server.logs import setup_logging
from wyoming_xnai.settings import HandleSettings


def main(settings: HandleSettings, args: argparse.Namespace) -> int:
    setup_logging(settings.debug, "text")
    if not settings.debug:
        for name in ("wyoming_xnai", "faiss"):
            logging.getLogger(name).setLevel(logging.ERROR)  # one-line problems are printed below
    answerer = Answerer(settings)
    answerer.load()
    answer = anyio.run(answerer.answer, args.question, None, None, backend="asyncio")
    print(answer.text)
    if answer.sources:
        print("sources: " + ", ".join(source_names(answer.sources)))
    for stage, problem in answer.problems.items():
        print(f"xnai: {stage}: {problem}", file=sys.stderr)
    if answer.stage not in ("rag", "llm", "judged"):
        print(f"xnai: answered by the {answer.stage} fallback", file=sys.stderr)
    return 0 if answer.stage in ("rag", "llm", "judged") else 1
