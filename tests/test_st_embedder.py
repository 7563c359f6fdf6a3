"""`--embedder sentence-transformers`, really run: in its own venv with a CPU build of torch.

The default install has no torch, so this backend runs in the venv that `.ci/st-venv` builds (pip: the
local CPU torch wheel, then the project with its `sentence-transformers` extra; .ci/run calls it). Its
`xnai ingest` and `xnai ask` are run with that venv's python on the test documents and compared with the
default ONNX embedder, run with this python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.docs_facts import DOCS, FACTS
from tests.support import server_env
from tests.test_handle import SLOW
from tests.test_security import TRACED, outbound

REPO = Path(__file__).resolve().parent.parent
ST_VENV = Path(os.environ.get("XNAI_TEST_ST_VENV", Path.home() / ".cache" / "xnai-test" / "st-venv"))
ST_PYTHON = ST_VENV / "bin" / "python"
ST = ("--embedder", "sentence-transformers")

pytestmark = [
    pytest.mark.skipif(
        not (ST_VENV / ".xnai-stamp").exists(),
        reason=f"no sentence-transformers venv at {ST_VENV}: run .ci/st-venv (.ci/run does)",
    ),
    pytest.mark.timeout(900),
]


def xnai(python: Path | str, data_dir: Path, *args: str, trace: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m wyoming_xnai ...` on this checkout (whatever the venv has installed), on loopback only."""
    env = server_env(data_dir) | {"PYTHONPATH": str(REPO)}
    prefix = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", f"trace={TRACED}", "-o", str(trace)] if trace else []
    argv = [*prefix, str(python), "-m", "wyoming_xnai", *args, "--data-dir", str(data_dir)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)


def ask(python: Path | str, data_dir: Path, models_dir: Path, question: str, *args: str):
    return xnai(python, data_dir, "ask", question, "--models-dir", str(models_dir), "--llm-timeout", SLOW, *args)


@pytest.fixture(scope="module")
def st_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The test documents indexed by the sentence-transformers backend (under strace when there is one)."""
    data = tmp_path_factory.mktemp("st-data")
    trace = data / "strace.log" if shutil.which("strace") else None
    result = xnai(ST_PYTHON, data, "ingest", str(DOCS), *ST, trace=trace)
    assert result.returncode == 0, result.stderr
    return data, trace.read_text() if trace else ""


@pytest.fixture(scope="module")
def onnx_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("onnx-data")
    result = xnai(sys.executable, data, "ingest", str(DOCS))
    assert result.returncode == 0, result.stderr
    return data


def stored(data: Path) -> tuple[dict, list[str], np.ndarray, list[str], np.ndarray]:
    from wyoming_xnai.index import store

    version = store.read_version(data / "index")
    sentences = version.sentences()
    assert sentences is not None
    return version.meta, version.texts, np.asarray(version.embeddings()), sentences.texts, np.asarray(sentences.vectors)


def test_its_vectors_agree_with_the_onnx_embedder(st_data, onnx_data) -> None:
    """Every passage and every note sentence of the test documents: cosine >= 0.99 between the two backends."""
    st_meta, st_texts, st_vectors, st_sentences, st_sentence_vectors = stored(st_data[0])
    onnx_meta, onnx_texts, onnx_vectors, onnx_sentences, onnx_sentence_vectors = stored(onnx_data)
    assert st_meta["embedder"] == "all-MiniLM-L6-v2/sentence-transformers" and st_meta["dim"] == 384
    assert onnx_meta["embedder"] == "all-MiniLM-L6-v2"
    assert st_texts == onnx_texts and len(st_texts) >= 6
    assert st_sentences == onnx_sentences
    for a, b in ((st_vectors, onnx_vectors), (st_sentence_vectors, onnx_sentence_vectors)):
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
        cosines = np.sum(a * b, axis=1)
        assert float(cosines.min()) >= 0.99, sorted(cosines)[:3]


def test_it_answers_from_its_own_index_without_calling_out(st_data, llm_models_dir) -> None:
    data, trace = st_data
    fact = FACTS[9]  # "What is the cat allergic to?" -> chicken, pets.html
    result = ask(ST_PYTHON, data, llm_models_dir, fact.question, *ST)
    assert result.returncode == 0, result.stderr
    assert fact.keyword in result.stdout.lower() and f"sources: {fact.source}" in result.stdout
    if trace:  # the ingest: torch, transformers and huggingface_hub loaded the model from the package's files
        assert outbound(trace) == []


@pytest.mark.parametrize(
    "direction", ["onnx index, sentence-transformers ask", "sentence-transformers index, onnx ask"]
)
def test_an_index_from_the_other_embedder_is_refused(direction, st_data, onnx_data, llm_models_dir) -> None:
    if direction.startswith("onnx"):
        result = ask(ST_PYTHON, onnx_data, llm_models_dir, FACTS[9].question, *ST)
        built, wanted = "all-MiniLM-L6-v2 (384 dims)", "all-MiniLM-L6-v2/sentence-transformers (384 dims)"
    else:
        result = ask(sys.executable, st_data[0], llm_models_dir, FACTS[9].question)
        built, wanted = "all-MiniLM-L6-v2/sentence-transformers (384 dims)", "all-MiniLM-L6-v2 (384 dims)"
    problems = [line for line in result.stderr.splitlines() if line.startswith("xnai: retrieval:")]
    assert len(problems) == 1, result.stderr
    assert f"built with embedder {built}, not {wanted}" in problems[0]
    assert "xnai ingest --rebuild" in problems[0]
    assert "Traceback" not in result.stderr and "sources:" not in result.stdout  # no notes were used
