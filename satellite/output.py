"""The speaker for one answer, opened only once the answer is committed: a speculative answer is
prepared while the user may still speak, and is dropped unheard if they do."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio
from wyoming.audio import AudioChunk

from satellite.audio import Playback, Speaker


class Output:
    def __init__(self, speaker: Speaker, commit: anyio.Event) -> None:
        self.speaker = speaker
        self.commit = commit
        self.playback: Playback | None = None
        self._stack = AsyncExitStack()

    @property
    def bytes(self) -> int:
        return self.playback.bytes if self.playback else 0

    @property
    def first_byte_at(self) -> float | None:
        return self.playback.first_byte_at if self.playback else None

    async def write(self, chunk: AudioChunk) -> None:
        if self.playback is None:
            await self.commit.wait()
            self.playback = await self._stack.enter_async_context(self.speaker.play())
        await self.playback.write(chunk)

    async def drain(self) -> None:
        """Wait until the answer has been heard (cancellable: an interrupt stops it at once)."""
        if self.playback is not None:
            await self.playback.drain()

    async def aclose(self) -> None:
        """Close the speaker: a drained answer is over, an undrained one is cut off now."""
        await self._stack.aclose()
