"""Writes the bundled sounds: `python -m satellite.sounds.make` (22050 Hz, 16-bit mono WAVs).

awake: two rising notes (listening); done: the same two falling (heard you); alarm: three beeps and a
pause, repeated by the satellite while a timer rings.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from satellite.sounds import SOUNDS_DIR

RATE = 22050


def tone(freq: float, seconds: float, volume: float = 0.35) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    wave_ = np.sin(2 * np.pi * freq * t) * volume
    fade = min(len(t) // 4, int(RATE * 0.01))  # 10 ms ramps: no clicks
    ramp = np.linspace(0.0, 1.0, fade)
    wave_[:fade] *= ramp
    wave_[-fade:] *= ramp[::-1]
    return wave_


def pause(seconds: float) -> np.ndarray:
    return np.zeros(int(RATE * seconds))


def write(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setframerate(RATE)
        wav.setsampwidth(2)
        wav.setnchannels(1)
        wav.writeframes((samples * 32767).astype("<i2").tobytes())


def main() -> None:
    write(SOUNDS_DIR / "awake.wav", np.concatenate([tone(660, 0.07), tone(880, 0.09)]))
    write(SOUNDS_DIR / "done.wav", np.concatenate([tone(880, 0.07), tone(660, 0.09)]))
    beep = np.concatenate([tone(1000, 0.12, 0.45), pause(0.08)])
    write(SOUNDS_DIR / "alarm.wav", np.concatenate([beep, beep, beep, pause(0.4)]))


if __name__ == "__main__":
    main()
