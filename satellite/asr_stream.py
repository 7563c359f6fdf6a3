"""One utterance streamed to ASR while the user speaks.

The audio is also kept: if the instance dies mid-utterance, the next one gets everything so far
(replayed in one chunk), so the utterance still succeeds.
"""

from __future__ import annotations

import logging
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioStart, AudioStop
from wyoming.client import AsyncClient

from satellite.discovery import Directory, Endpoint, NoService
from wyoming_xnai.audio.format import CHANNELS, RATE, WIDTH, audio_chunk
from wyoming_xnai.client.connection import SERVICE_ERRORS, close, connect, read_event, write_event
from wyoming_xnai.client.failover import AllFailed, failover
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)


class AsrStream:
    def __init__(self, directory: Directory, settings: SatelliteSettings) -> None:
        self.directory = directory
        self.language = settings.satellite_language
        self.timeout = settings.satellite_timeout
        self.audio = bytearray()
        self.client: AsyncClient | None = None
        self.endpoint: Endpoint | None = None
        self._tried: set[str] = set()
        self._gave_up = False
        self.paused = False

    def _failed(self, endpoint: Endpoint, err: BaseException) -> bool:
        self.directory.mark_failed(endpoint, f"{type(err).__name__}: {err}")
        return True

    async def _open(self, endpoint: Endpoint) -> None:
        """Connect to `endpoint` and replay what we have so far."""
        self._tried.add(endpoint.uri)
        client = await connect(endpoint.uri, self.timeout)
        try:
            await write_event(client, Transcribe(language=self.language).event(), self.timeout)
            await write_event(client, AudioStart(rate=RATE, width=WIDTH, channels=CHANNELS).event(), self.timeout)
            if self.audio:
                await write_event(client, audio_chunk(bytes(self.audio)).event(), self.timeout)
        except BaseException:
            await close(client)
            raise
        self.client, self.endpoint = client, endpoint
        _LOGGER.info("asr: streaming to %s", endpoint.uri)

    async def _fresh(self, wait: float) -> list[Endpoint]:
        """Instances not tried for this utterance yet (all of them once every one was tried)."""
        candidates = await self.directory.wait_for("asr", wait)
        return [e for e in candidates if e.uri not in self._tried] or candidates

    async def _lost(self, err: BaseException) -> None:
        """The instance in use failed mid-utterance: forget it; the next send or finish fails over."""
        assert self.endpoint is not None
        self.directory.mark_failed(self.endpoint, f"{type(err).__name__}: {err}")
        _LOGGER.warning("asr: %s failed mid-utterance (%s); failing over", self.endpoint.uri, err)
        await self.aclose()

    def pause(self) -> None:
        """Stop streaming (audio-stop is about to go out for a speculative transcript); keep buffering."""
        self.paused = True

    async def resume(self) -> None:
        """The user spoke again: drop the finished request; the next frame replays the whole utterance."""
        busy = self.endpoint.uri if self.endpoint else None
        await close(self.client)
        self.client = self.endpoint = None
        self.paused = self._gave_up = False
        self._tried.clear()
        if busy:
            self._tried.add(busy)  # it is still transcribing the dropped part: prefer another instance

    async def send(self, pcm: bytes) -> None:
        self.audio += pcm
        if self.paused or self._gave_up:
            return  # keep buffering; finish() tries again and waits for discovery
        if self.client is None:
            try:
                await failover(await self._fresh(wait=0), self._open, self._failed)  # replays this frame too
            except (NoService, AllFailed):
                self._gave_up = True
            return
        try:
            await write_event(self.client, audio_chunk(pcm).event(), self.timeout)
        except SERVICE_ERRORS as err:
            await self._lost(err)

    async def finish(self) -> Transcript:
        """audio-stop, then the transcript: from the instance in use, else from each other one in turn
        (with the utterance replayed). Raises NoService when none could transcribe it."""
        candidates = [self.endpoint] if self.endpoint is not None else []
        candidates += [e for e in await self._fresh(wait=0 if candidates else self.timeout) if e not in candidates]
        try:
            return await failover(candidates, self._transcript_from, self._failed)
        except AllFailed as err:
            raise NoService(f"every asr service failed; last: {err.last}") from None

    async def _transcript_from(self, endpoint: Endpoint) -> Transcript:
        if self.endpoint is not endpoint:
            await self.aclose()
            await self._open(endpoint)
        assert self.client is not None
        try:
            await write_event(self.client, AudioStop().event(), self.timeout)
            while True:
                event = await read_event(self.client, self.timeout)
                if Transcript.is_type(event.type):
                    self.directory.mark_ok(endpoint)
                    return Transcript.from_event(event)
        except SERVICE_ERRORS as err:
            _LOGGER.warning("asr: %s failed mid-utterance (%s); failing over", endpoint.uri, err)
            await self.aclose()
            raise  # failover marks it failed and tries the next instance

    async def aclose(self) -> None:
        await close(self.client)
        self.client = self.endpoint = None


def confidence(transcript: Transcript) -> dict[str, Any] | None:
    """The ASR's confidence for the transcript (`context["asr"]`, see the ASR contract), if it sent one."""
    context = transcript.context if isinstance(transcript.context, dict) else {}
    asr = context.get("asr")
    return asr if isinstance(asr, dict) else None
