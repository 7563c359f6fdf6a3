"""`xnai health`: one describe round trip, for container health checks and scripts."""

from __future__ import annotations

import argparse
import sys

import anyio

from wyoming_xnai.client.connection import describe


def main(settings, args: argparse.Namespace) -> int:
    try:
        info = anyio.run(describe, args.uri, args.timeout, backend="asyncio")
    except (OSError, TimeoutError, ValueError) as err:
        print(f"unhealthy: {args.uri}: {err or type(err).__name__}", file=sys.stderr)
        return 1
    kinds = [k for k in ("asr", "tts", "handle", "wake", "intent") if any(p.installed for p in getattr(info, k))]
    if info.satellite is not None:
        kinds.append("satellite")
    print(f"healthy: {args.uri}: {', '.join(kinds) or 'no services'}")
    return 0
