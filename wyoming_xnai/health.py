"""`xnai health`: one describe round trip, for container health checks and scripts."""

from __future__ import annotations

import argparse
import sys

import anyio
from wyoming.client import AsyncClient
from wyoming.info import Describe, Info


async def describe(uri: str, timeout: float) -> Info:
    """One describe round trip; raises OSError/TimeoutError when the service does not answer."""
    with anyio.fail_after(timeout):
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Describe().event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise ConnectionError(f"{uri} closed the connection before info")
                if Info.is_type(event.type):
                    return Info.from_event(event)


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
