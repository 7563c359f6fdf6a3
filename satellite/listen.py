"""One utterance, from what started it (the wake word, or speech while awake) to the endpoint.

The audio streams to ASR while the user speaks. With `--speculate` the answer is started at the first
short pause and played only at the endpoint; if the user goes on, it is dropped unheard and the whole
utterance is transcribed again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

from satellite.answer import Answer, run_answer
from satellite.asr_stream import AsrStream
from satellite.audio import Speaker
from satellite.conversation import Conversation
from satellite.discovery import Directory
from satellite.feedback import awake, done
from satellite.respond import Responder
from satellite.turn import Turn
from satellite.wake import WakeListener
from wyoming_xnai.audio.segmenter import Segmenter
from wyoming_xnai.settings import SatelliteSettings

_LOGGER = logging.getLogger(__name__)
Frame = tuple[float, bytes]  # (monotonic capture time, 512 samples of 16 kHz mono s16)


@dataclass
class Start:
    """What opened the utterance: a wake word (pre-roll from the wake listener) or speech the VAD
    heard (pre-roll from the segmenter, which is already in speech)."""

    at: float
    preroll: list[bytes]
    wake_word: str | None = None
    awake: bool = False  # within a follow-up window: no wake phrase needed


class Listener:
    def __init__(
        self,
        settings: SatelliteSettings,
        directory: Directory,
        speaker: Speaker,
        ears: WakeListener,
        segmenter: Segmenter,
        conversation: Conversation,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.speaker = speaker
        self.ears = ears
        self.segmenter = segmenter
        self.conversation = conversation
        self.responder = Responder(directory, settings, speaker)
        speculate = settings.satellite_speculate
        self.speculate = speculate if speculate and speculate < settings.satellite_end_silence else None

    def _answer(self, start: Start, turn: Turn, asr: AsrStream, tg: TaskGroup) -> Answer:
        phrase = self.settings.satellite_wake_phrase
        answer = Answer(turn, asr, wake_phrase=None if start.wake_word or start.awake else phrase)
        if start.wake_word:
            answer.spoken_wake_word = self.ears.phrases.get(start.wake_word)
        tg.start_soon(run_answer, answer, self.responder, self.conversation)
        return answer

    async def listen(self, start: Start, frames: MemoryObjectReceiveStream[Frame], tg: TaskGroup) -> Answer | None:
        """Consumes frames up to the endpoint; returns the answer (running in `tg`), or None when nobody
        spoke after the wake word."""
        segmenter = self.segmenter
        turn = Turn(speech_start=start.at, wake_word=start.wake_word)
        asr = AsrStream(self.directory, self.settings)
        tg.start_soon(awake, self.settings, self.speaker)
        in_speech = segmenter.in_speech
        for frame in start.preroll if start.wake_word else []:
            in_speech = segmenter.feed(frame, start.at) == "start" or in_speech
        await asr.send(b"".join(start.preroll))
        give_up_at = start.at + self.settings.satellite_wake_listen
        answer: Answer | None = None
        async for captured, frame in frames:
            heard = self.ears.feed(frame, captured)  # the detector hears everything, to keep its audio whole
            if heard is not None and heard.kind == "wake" and start.wake_word is None and answer is None:
                _LOGGER.info("the utterance began with the wake word: listening from there")
                await asr.aclose()
                segmenter.reset()
                return await self.listen(Start(captured, self.ears.preroll(), heard.name), frames, tg)
            boundary = segmenter.feed(frame, captured)
            await asr.send(frame)
            in_speech = in_speech or boundary == "start"
            if boundary == "end":
                break
            if not in_speech:
                if captured > give_up_at:
                    _LOGGER.info("nobody spoke after the wake word")
                    await asr.aclose()
                    return None
            elif answer is None and self.speculate is not None and segmenter.silence >= self.speculate - 1e-9:
                asr.pause()
                answer = self._answer(start, turn, asr, tg)
            elif answer is not None and segmenter.silence == 0.0:
                _LOGGER.info("speech resumed: the speculative answer is dropped")
                await answer.stop()
                answer = None
                await asr.resume()
                turn = Turn(speech_start=start.at, wake_word=start.wake_word)
        if not in_speech:
            await asr.aclose()
            return None
        turn.endpoint = time.monotonic()
        turn.speech_end = segmenter.last_voiced_at
        tg.start_soon(done, self.settings, self.speaker)
        if answer is None:
            answer = self._answer(start, turn, asr, tg)
        answer.commit.set()
        return answer
