"""The answer to one transcript: handle's text streamed into TTS, TTS audio streamed to the speaker."""

from __future__ import annotations

import logging

import anyio

from satellite.audio import Speaker
from satellite.discovery import Directory, Endpoint, NoService
from satellite.handle import HandleClient
from satellite.output import Output
from satellite.tts import TtsClient
from satellite.turn import Turn
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)


class Responder:
    def __init__(self, directory: Directory, settings: SatelliteSettings, speaker: Speaker) -> None:
        self.directory = directory
        self.speaker = speaker
        self.timeout = settings.satellite_timeout
        self.handle = HandleClient(directory, self.timeout, settings.satellite_language)
        self.tts = TtsClient(directory, self.timeout, settings.satellite_voice)

    async def respond(self, turn: Turn, conversation_id: str, commit: anyio.Event) -> None:
        """Returns once the answer has been played (or could not be)."""
        send, recv = anyio.create_memory_object_stream[str](256)
        async with anyio.create_task_group() as tg:
            handles = await self._candidates("handle", turn)
            if not handles:
                send.close()
            else:
                tg.start_soon(self.handle.answer, turn, conversation_id, handles, send)
            async with recv:
                voices = await self._candidates("tts", turn)
                if not voices:
                    async for _ in recv:
                        pass
                    return
                output = Output(self.speaker, commit)
                try:
                    await self.tts.speak(turn, voices, recv, output)
                    await output.drain()
                finally:
                    with anyio.CancelScope(shield=True):
                        await output.aclose()

    async def _candidates(self, kind: str, turn: Turn) -> list[Endpoint]:
        """Instances of a service to try, best first; none (logged, kept in the turn) when none is found."""
        try:
            return await self.directory.wait_for(kind, self.timeout)
        except NoService as err:
            turn.errors.append(str(err))
            _LOGGER.error("%s", err)
            return []
