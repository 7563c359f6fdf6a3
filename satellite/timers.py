"""Home Assistant's timers on this satellite (`--ha`): HA keeps the time and says when one finishes;
the satellite rings the alarm sound until the wake or stop word, or `--timer-ring` seconds, stop it."""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskGroup
from wyoming.event import Event
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

from satellite.audio import Speaker
from satellite.feedback import play_wav, sound
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)


class Timers:
    def __init__(self, settings: SatelliteSettings, speaker: Speaker) -> None:
        self.settings = settings
        self.speaker = speaker
        self.running: dict[str, int] = {}  # id -> total seconds, as HA last said
        self._ringing: anyio.CancelScope | None = None

    @property
    def ringing(self) -> bool:
        return self._ringing is not None

    def on_event(self, event: Event, tasks: TaskGroup) -> bool:
        """Handles a timer-* event; False for any other event."""
        if TimerStarted.is_type(event.type):
            started = TimerStarted.from_event(event)
            self.running[started.id] = started.total_seconds
            _LOGGER.info("timer %s started: %d s", started.name or started.id, started.total_seconds)
        elif TimerUpdated.is_type(event.type):
            updated = TimerUpdated.from_event(event)
            self.running[updated.id] = updated.total_seconds
            _LOGGER.info(
                "timer %s %s: %d s left",
                updated.id,
                "running" if updated.is_active else "paused",
                updated.total_seconds,
            )
        elif TimerCancelled.is_type(event.type):
            self.running.pop(TimerCancelled.from_event(event).id, None)
            _LOGGER.info("timer cancelled")
        elif TimerFinished.is_type(event.type):
            self.running.pop(TimerFinished.from_event(event).id, None)
            _LOGGER.info("timer finished: ringing")
            self.stop()
            self._ringing = anyio.CancelScope()
            tasks.start_soon(self._ring, self._ringing)
        else:
            return False
        return True

    def stop(self) -> bool:
        """Silence the alarm; True if it was ringing."""
        if self._ringing is None:
            return False
        self._ringing.cancel()
        self._ringing = None
        _LOGGER.info("alarm stopped")
        return True

    async def _ring(self, scope: anyio.CancelScope) -> None:
        alarm = sound(self.settings, "alarm")
        with scope, anyio.move_on_after(self.settings.satellite_timer_ring):
            while alarm is not None and self.speaker.enabled:
                await play_wav(self.speaker, alarm)
            await anyio.sleep_forever()  # nothing to play: "ringing" still ends by word or time
        if self._ringing is scope:
            self._ringing = None
            _LOGGER.info("alarm stopped after %.0f s", self.settings.satellite_timer_ring)
