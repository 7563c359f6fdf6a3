"""Speak the answer with TTS: text streamed in as handle writes it, audio streamed out to the speaker.

A streaming TTS gets each piece of text at once (synthesize-start/-chunk/-stop); an older one gets the
whole text in one `synthesize`. If an instance fails before any audio was played, the next one gets
the text so far replayed; after that the answer is cut short rather than started again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from wyoming.audio import AudioChunk
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from satellite.discovery import Directory, Endpoint
from satellite.output import Output
from satellite.turn import Turn
from wyoming_xnai.client.connection import SERVICE_ERRORS, close, connect, read_event
from wyoming_xnai.client.failover import AllFailed, failover

_LOGGER = logging.getLogger(__name__)


@dataclass
class Speaking:
    """One answer being spoken: its text as it arrives, and where the audio goes."""

    turn: Turn
    recv: MemoryObjectReceiveStream[str]
    output: Output
    received: list[str] = field(default_factory=list)  # text so far, replayed after a failover


class TtsClient:
    def __init__(self, directory: Directory, timeout: float, voice: str | None) -> None:
        self.directory = directory
        self.timeout = timeout
        self.voice = SynthesizeVoice(name=voice) if voice else None

    async def speak(
        self, turn: Turn, candidates: list[Endpoint], recv: MemoryObjectReceiveStream[str], output: Output
    ) -> None:
        speaking = Speaking(turn, recv, output)

        async def speak_on(endpoint: Endpoint) -> None:
            client = await connect(endpoint.uri, self.timeout)
            try:
                if endpoint.tts_streaming:
                    await self._stream(client, speaking)
                else:
                    await self._whole(client, speaking)
            finally:
                await close(client)
            turn.tts_uri = endpoint.uri
            self.directory.mark_ok(endpoint)

        def failed(endpoint: Endpoint, err: BaseException) -> bool:
            self.directory.mark_failed(endpoint, f"{type(err).__name__}: {err}")
            turn.errors.append(f"tts {endpoint.uri}: {err}")
            if output.bytes:
                _LOGGER.warning("tts: %s failed mid-answer (%s); answer cut short", endpoint.uri, err)
            return not output.bytes

        try:
            await failover(candidates, speak_on, failed)
        except AllFailed:
            if not output.bytes:
                _LOGGER.error("tts: no instance could speak the answer")
            async for _ in recv:  # let handle finish writing
                pass

    async def _whole(self, client: AsyncClient, speaking: Speaking) -> None:
        async for text in speaking.recv:
            speaking.received.append(text)
        text = "".join(speaking.received).strip()
        if text:
            await client.write_event(Synthesize(text=text, voice=self.voice).event())
            await self._play(client, speaking, "audio-stop")

    async def _stream(self, client: AsyncClient, speaking: Speaking) -> None:
        """Text goes out while audio comes back; a failure on either side fails the attempt."""
        received = speaking.received
        failure: list[BaseException] = []
        async with anyio.create_task_group() as tg:

            async def play() -> None:
                try:
                    await self._play(client, speaking, "synthesize-stopped")
                except SERVICE_ERRORS as err:
                    failure.append(err)
                    tg.cancel_scope.cancel()

            tg.start_soon(play)
            try:
                await client.write_event(SynthesizeStart(voice=self.voice).event())
                for text in received:  # replay after a failover
                    await client.write_event(SynthesizeChunk(text=text).event())
                async for text in speaking.recv:
                    received.append(text)
                    await client.write_event(SynthesizeChunk(text=text).event())
                full = "".join(received)
                await client.write_event(Synthesize(text=full, voice=self.voice).event())  # back-compat copy
                await client.write_event(SynthesizeStop().event())
            except SERVICE_ERRORS as err:
                failure.append(err)
                tg.cancel_scope.cancel()
        if failure:
            raise failure[0]

    async def _play(self, client: AsyncClient, speaking: Speaking, until: str) -> None:
        turn, output = speaking.turn, speaking.output
        while True:
            event = await read_event(client, self.timeout)
            if AudioChunk.is_type(event.type):
                if not turn.first_audio_at:
                    turn.first_audio_at = time.monotonic()
                await output.write(AudioChunk.from_event(event))
                if not turn.first_played_at and output.first_byte_at:
                    turn.first_played_at = output.first_byte_at
            elif event.type == until:
                return
