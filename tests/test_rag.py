"""Knowledge base: real documents, the real MiniLM model, the real `xnai ingest` command."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.docs_facts import DOCS, FACTS
from tests.support import server_env
from wyoming_xnai.errors import UserError
from wyoming_xnai.index import store
from wyoming_xnai.index.embed import OnnxMiniLM, load_embedder
from wyoming_xnai.index.knowledge import IndexUnavailable, KnowledgeBase
from wyoming_xnai.index.vectors import build_index, exact_index, hnsw_index, recall_at_k, tune_ef_search
from wyoming_xnai.rag.chunking import chunk_document, chunk_text
from wyoming_xnai.rag.documents import parse_document
from wyoming_xnai.rag.ingest import ingest
from wyoming_xnai.rag.outline import with_context
from wyoming_xnai.settings import IngestSettings


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLM:
    return OnnxMiniLM()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A private copy of the test documents (tests change and delete files)."""
    return Path(shutil.copytree(DOCS, tmp_path / "docs"))


@pytest.fixture
def cfg(tmp_path: Path) -> IngestSettings:
    return IngestSettings(data_dir=tmp_path / "data")


def run_ingest(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wyoming_xnai", "ingest", *args],
        env=server_env(data_dir),
        capture_output=True,
        text=True,
        timeout=240,
    )


def names(kb: KnowledgeBase) -> set[str]:
    return {Path(s).name for s in kb.sources}


def assert_finds_every_fact(kb: KnowledgeBase) -> None:
    for fact in FACTS:
        passages = kb.search(fact.question, 4)
        assert Path(passages[0].source).name == fact.source, (fact, passages[0])
        assert any(fact.keyword.lower() in p.text.lower() for p in passages[:2]), (fact, passages[:2])
        assert passages == sorted(passages, key=lambda p: -p.score)


# --- ingest and search ------------------------------------------------------------------------


def test_cli_ingest_then_search_finds_every_fact(tmp_path: Path, embedder: OnnxMiniLM) -> None:
    result = run_ingest(tmp_path / "data", str(DOCS))
    assert result.returncode == 0, result.stderr
    assert "4 added" in result.stdout
    kb = KnowledgeBase.open(tmp_path / "data" / "index", embedder)
    assert names(kb) == {"house.txt", "appliances.md", "pets.html", "garden_and_car.pdf"}
    assert len(kb) > 8  # every document is cut into several passages
    assert kb.info.kind == "flat"
    assert_finds_every_fact(kb)


def test_in_process_ingest_with_hnsw_finds_every_fact(docs: Path, tmp_path: Path, embedder: OnnxMiniLM) -> None:
    cfg = IngestSettings(data_dir=tmp_path / "data", handle_hnsw_threshold=1)
    report = ingest([docs], cfg, progress=False, embedder=embedder)
    assert len(report.added) == 4 and not report.failed
    assert report.vector_index.startswith("hnsw")
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert kb.info.kind == "hnsw" and kb.info.recall_at_5 >= 0.98
    assert_finds_every_fact(kb)


def test_search_edge_cases(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    ingest([docs], cfg, progress=False, embedder=embedder)
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert kb.search("", 4) == [] and kb.search("   ", 4) == []
    assert len(kb.search("the", 3)) == 3  # stop words only: dense search still answers
    assert len(kb.search("spare key", 1000)) == len(kb)
    # similarity is a usable relevance signal: an on-topic question scores above an off-topic one
    on = kb.search("Where is the spare house key?", 1)[0].similarity
    off = kb.search("Who won the football world cup in 1966?", 1)[0].similarity
    assert on > off


def test_html_scripts_and_styles_are_not_indexed(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    ingest([docs], cfg, progress=False, embedder=embedder)
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    texts = [p.text for p in kb.search("zebra quartz console log font-family", len(kb))]
    assert texts and not any("zebra" in t or "font-family" in t for t in texts)


def test_empty_folder_gives_an_empty_usable_index(tmp_path: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    (tmp_path / "empty").mkdir()
    report = ingest([tmp_path / "empty"], cfg, progress=False, embedder=embedder)
    assert report.documents == 0
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert len(kb) == 0 and kb.search("spare key", 4) == []


# --- note sentences stored at ingest -----------------------------------------------------------


def assert_sentences_of_every_passage(kb: KnowledgeBase, embedder: OnnxMiniLM) -> None:
    """Each passage's notes with their contexts, with the vectors the embedder gives note and context
    (batching changes ~1e-6)."""
    passages = kb.search("house key boiler vet car", len(kb))
    assert len(passages) == len(kb)
    chunks = {c.text: c for p in {p.source for p in passages} for c in chunk_document(parse_document(Path(p), Path(p).read_bytes()))}
    for passage, (texts, vectors, contexts) in zip(passages, kb.sentences(passages), strict=True):
        notes = chunks[passage.text].notes
        assert texts == [n.text for n in notes] and contexts == [n.context for n in notes] and texts, passage
        assert vectors.shape == (len(texts), embedder.dim)
        assert np.allclose(vectors, embedder.embed([with_context(n) for n in notes]), atol=1e-4)


def test_ingest_stores_each_passages_note_sentences_with_vectors(
    docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM
) -> None:
    ingest([docs], cfg, progress=False, embedder=embedder)
    version = store.read_version(cfg.index_dir)
    stored = version.sentences()
    assert stored is not None and version.meta["sentences"] == len(stored.texts) > len(version.texts)
    assert store.SENTENCES in version.meta["files"] and store.SENTENCE_EMBEDDINGS in version.meta["files"]
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert_sentences_of_every_passage(kb, embedder)

    # a changed file gets new sentences; the unchanged files keep theirs, still with the right passages
    house = docs / "house.txt"
    house.write_text(house.read_text().replace("under the blue flower pot by the garage", "inside the red doormat"))
    (docs / "pets.html").unlink()
    ingest([docs], cfg, progress=False, embedder=embedder)
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert_sentences_of_every_passage(kb, embedder)
    assert any("red doormat" in t for t in store.read_version(cfg.index_dir).sentences().texts)


def test_index_of_an_older_format_asks_for_a_rebuild(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    """An index written by an older xnai (format 1 stored no note sentences) is not read half-way."""
    ingest([docs], cfg, progress=False, embedder=embedder)
    meta_path = store.current_path(cfg.index_dir) / store.META
    meta = json.loads(meta_path.read_text())
    meta["format"] = 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexUnavailable, match=r"format 1.*xnai ingest --rebuild"):
        KnowledgeBase.open(cfg.index_dir, embedder)
    with pytest.raises(UserError, match="--rebuild"):
        ingest([docs], cfg, progress=False, embedder=embedder)
    ingest([docs], cfg, rebuild=True, progress=False, embedder=embedder)
    assert_sentences_of_every_passage(KnowledgeBase.open(cfg.index_dir, embedder), embedder)


# --- incremental ------------------------------------------------------------------------------


def test_incremental_change_remove_and_unchanged(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    ingest([docs], cfg, progress=False, embedder=embedder)
    first = KnowledgeBase.open(cfg.index_dir, embedder).version

    again = ingest([docs], cfg, progress=False, embedder=embedder)
    assert len(again.unchanged) == 4 and not (again.added or again.updated or again.removed)
    assert KnowledgeBase.open(cfg.index_dir, embedder).version == first  # nothing rewritten

    house = docs / "house.txt"
    house.write_text(house.read_text().replace("under the blue flower pot by the garage", "inside the red doormat"))
    (docs / "pets.html").unlink()
    (docs / "extra.md").write_text("# Extra\n\nThe piano tuner, Mr. Vasquez, comes every second Tuesday.\n")
    report = ingest([docs], cfg, progress=False, embedder=embedder)
    assert [Path(p).name for p in report.updated] == ["house.txt"]
    assert [Path(p).name for p in report.removed] == ["pets.html"]
    assert [Path(p).name for p in report.added] == ["extra.md"]
    assert len(report.unchanged) == 2

    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert names(kb) == {"house.txt", "appliances.md", "garden_and_car.pdf", "extra.md"}
    assert "red doormat" in kb.search("Where is the spare house key?", 1)[0].text
    assert not any("flower pot" in p.text for p in kb.search("flower pot", len(kb)))
    assert "Vasquez" in kb.search("When does the piano tuner come?", 1)[0].text
    assert not any(Path(p.source).name == "pets.html" for p in kb.search("Who is the dog's vet?", len(kb)))
    # old versions are cleaned up: only the live one is on disk
    assert [p.name for p in cfg.index_dir.iterdir() if p.name.startswith("v-")] == [kb.version]


def test_other_folders_stay_until_their_files_go(tmp_path: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(DOCS / "house.txt", a)
    shutil.copy(DOCS / "pets.html", b)
    ingest([a], cfg, progress=False, embedder=embedder)
    ingest([b], cfg, progress=False, embedder=embedder)
    assert names(KnowledgeBase.open(cfg.index_dir, embedder)) == {"house.txt", "pets.html"}
    (a / "house.txt").unlink()
    report = ingest([b], cfg, progress=False, embedder=embedder)  # a file gone from disk goes from the index
    assert [Path(p).name for p in report.removed] == ["house.txt"]
    assert names(KnowledgeBase.open(cfg.index_dir, embedder)) == {"pets.html"}


def test_cli_rebuild_drops_documents_not_named(tmp_path: Path, embedder: OnnxMiniLM) -> None:
    data = tmp_path / "data"
    assert run_ingest(data, str(DOCS)).returncode == 0
    result = run_ingest(data, "--rebuild", str(DOCS / "house.txt"))
    assert result.returncode == 0, result.stderr
    assert names(KnowledgeBase.open(data / "index", embedder)) == {"house.txt"}


# --- failures ---------------------------------------------------------------------------------


def test_encodings_and_binary_files(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    (docs / "windows.txt").write_bytes(
        "The café's Wi-Fi code is on the fridge. Señora Ruiz cleans on Fridays.".encode("cp1252")
    )
    (docs / "bom.md").write_bytes(b"\xef\xbb\xbf# Notes\n\nThe loft ladder pole is behind the bathroom door.\n")
    (docs / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    report = ingest([docs], cfg, progress=False, embedder=embedder)
    assert [(Path(p).name, why) for p, why in report.failed] == [("image.txt", "binary file, not text")]
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert "Señora Ruiz" in kb.search("Who cleans on Fridays?", 1)[0].text
    top = kb.search("Where is the loft ladder pole?", 1)[0].text
    assert top.startswith("Notes\nThe loft") and "\ufeff" not in top  # the BOM did not hide the heading


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal, ingest shows a tqdm bar (on stderr); under pytest's pipes it stays quiet."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # child: the real CLI on a pseudo-terminal
        os.environ.update(server_env(tmp_path / "data"))
        os.execv(sys.executable, [sys.executable, "-m", "wyoming_xnai", "ingest", str(DOCS)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a pty starts 0 columns wide
    out = b""
    while True:
        try:
            block = os.read(fd, 4096)
        except OSError:
            break
        if not block:
            break
        out += block
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "indexing" in text and "4/4" in text and "4 added" in text


def test_broken_file_is_skipped_and_reported(docs: Path, tmp_path: Path, embedder: OnnxMiniLM) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    (docs / "scanned.pdf").write_bytes((DOCS / "garden_and_car.pdf").read_bytes().replace(b"Tj", b"  "))
    result = run_ingest(tmp_path / "data", str(docs))
    assert result.returncode == 1
    skipped = [line for line in result.stderr.splitlines() if line.startswith("xnai: skipped")]
    assert len(skipped) == 2 and "Traceback" not in result.stderr
    assert any("broken.pdf" in line for line in skipped) and any("scanned.pdf" in line for line in skipped)
    kb = KnowledgeBase.open(tmp_path / "data" / "index", embedder)
    assert names(kb) == {"house.txt", "appliances.md", "pets.html", "garden_and_car.pdf"}


def test_cli_user_mistakes_are_one_line(tmp_path: Path) -> None:
    result = run_ingest(tmp_path / "data", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("xnai: not found:") and len(result.stderr.strip().splitlines()) == 1


def test_crash_in_write_step_keeps_previous_index(
    docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([docs], cfg, progress=False, embedder=embedder)
    before = KnowledgeBase.open(cfg.index_dir, embedder)

    # The disk fills up while the new version's BM25 files are written (a fault we cannot cause for real).
    def disk_full(self, folder: Path) -> None:
        (folder / "partial.npy").write_bytes(b"\x93NUMPY half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("wyoming_xnai.index.lexical.Lexical.save", disk_full)
    (docs / "house.txt").write_text("The spare house key is now with Mrs. Okafor.\n")
    with pytest.raises(OSError, match="No space"):
        ingest([docs], cfg, progress=False, embedder=embedder)
    monkeypatch.undo()

    after = KnowledgeBase.open(cfg.index_dir, embedder)
    assert after.version == before.version and len(after) == len(before)
    assert "flower pot" in after.search("Where is the spare house key?", 1)[0].text
    assert not any(p.name.startswith(".staging-") for p in cfg.index_dir.iterdir())
    # and the next ingest picks the change up
    ingest([docs], cfg, progress=False, embedder=embedder)
    assert "Okafor" in KnowledgeBase.open(cfg.index_dir, embedder).search("spare house key", 1)[0].text


def test_killed_ingest_leaves_a_usable_index(tmp_path: Path, embedder: OnnxMiniLM) -> None:
    """SIGKILL `xnai ingest` at several moments: whatever it was doing, a complete index opens."""
    data = tmp_path / "data"
    big = tmp_path / "big"
    shutil.copytree(DOCS, big)
    assert run_ingest(data, str(big)).returncode == 0
    rng = np.random.default_rng(1)
    words = "kettle garage boiler hedge ladder pantry shed gate tap fuse meter cupboard stairs attic".split()
    for i in range(150):
        (big / f"note{i:03}.txt").write_text(
            "\n\n".join(" ".join(rng.choice(words, 60)) + "." for _ in range(4)), encoding="utf-8"
        )
    for delay in (0.5, 2.0, 4.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "wyoming_xnai", "ingest", str(big)],
            env=server_env(data),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kb = KnowledgeBase.open(data / "index", embedder)  # the old version or, if it got there, the new one
        assert "flower pot" in kb.search("Where is the spare house key?", 1)[0].text
    result = run_ingest(data, str(big))  # leftovers of the killed runs do not get in the way
    assert result.returncode == 0, result.stderr
    kb = KnowledgeBase.open(data / "index", embedder)
    assert len(names(kb)) == 154
    assert [p.name for p in (data / "index").iterdir() if p.name.startswith((".staging-", "v-"))] == [kb.version]


def test_leftovers_of_a_crash_are_ignored_then_cleaned(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    ingest([docs], cfg, progress=False, embedder=embedder)
    live = KnowledgeBase.live_version(cfg.index_dir)
    # what a crash leaves: a half-written staging folder, a complete version never made live, a pointer temp
    (cfg.index_dir / ".staging-v-crashed").mkdir()
    (cfg.index_dir / ".staging-v-crashed" / "chunks.json").write_text('{"texts": ["half')
    shutil.copytree(cfg.index_dir / live, cfg.index_dir / "v-19700101T000000-orphan")
    (cfg.index_dir / ".CURRENT.1234abcd").write_text("v-19700101T000000-orphan")
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert kb.version == live
    (docs / "extra.txt").write_text("The attic light switch is behind the loft hatch.\n")
    ingest([docs], cfg, progress=False, embedder=embedder)
    new = KnowledgeBase.live_version(cfg.index_dir)
    assert new != live
    assert sorted(p.name for p in cfg.index_dir.iterdir()) == sorted([".lock", store.CURRENT, new])


def test_open_survives_an_ingest_committing_mid_read(
    docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server reopening the index just as ingest swaps versions (and deletes the one being read) gets the new one.

    The interleaving is forced: the commit runs while the reader verifies its first checksum.
    """
    ingest([docs], cfg, progress=False, embedder=embedder)
    old = KnowledgeBase.live_version(cfg.index_dir)
    real_sha256 = store._sha256
    interleaved = []

    def sha256_with_a_commit_in_between(path: Path) -> str:
        if not interleaved:
            interleaved.append(path)
            (docs / "extra.txt").write_text("The attic has four boxes of old books.\n")
            ingest([docs], cfg, progress=False, embedder=embedder)
        return real_sha256(path)

    monkeypatch.setattr(store, "_sha256", sha256_with_a_commit_in_between)
    kb = KnowledgeBase.open(cfg.index_dir, embedder)
    assert interleaved and old in interleaved[0].parts and not (cfg.index_dir / old).exists()
    assert kb.version == KnowledgeBase.live_version(cfg.index_dir) != old
    assert "attic" in kb.search("How many boxes are in the attic?", 1)[0].text


def test_one_ingest_at_a_time(docs: Path, cfg: IngestSettings) -> None:
    with store.locked(cfg.index_dir):
        result = run_ingest(cfg.data_dir, str(docs))
    assert result.returncode == 2 and "another `xnai ingest`" in result.stderr


def test_missing_and_corrupt_index_raise_index_unavailable(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    with pytest.raises(IndexUnavailable, match="no index"):
        KnowledgeBase.open(cfg.index_dir, embedder)
    assert KnowledgeBase.live_version(cfg.index_dir) is None
    ingest([docs], cfg, progress=False, embedder=embedder)
    live = store.current_path(cfg.index_dir)
    pristine = {p: p.read_bytes() for p in live.rglob("*") if p.is_file()}

    def restore() -> None:
        for p, data in pristine.items():
            p.write_bytes(data)

    for name in (store.VECTORS, store.CHUNKS, store.EMBEDDINGS, store.META, "bm25/vocab.index.json"):
        target = live / name
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        with pytest.raises(IndexUnavailable, match=r"corrupt|cannot be loaded"):
            KnowledgeBase.open(cfg.index_dir, embedder)
        target.write_bytes(bytes(data[: len(data) // 3]))  # truncated
        with pytest.raises(IndexUnavailable):
            KnowledgeBase.open(cfg.index_dir, embedder)
        target.unlink()
        with pytest.raises(IndexUnavailable):
            KnowledgeBase.open(cfg.index_dir, embedder)
        restore()
        KnowledgeBase.open(cfg.index_dir, embedder)

    (cfg.index_dir / store.CURRENT).write_text("v-does-not-exist\n")
    with pytest.raises(IndexUnavailable, match="corrupt"):
        KnowledgeBase.open(cfg.index_dir, embedder)
    (cfg.index_dir / store.CURRENT).write_text("../../etc\n")
    with pytest.raises(IndexUnavailable, match="corrupt"):
        KnowledgeBase.open(cfg.index_dir, embedder)
    # ingest refuses to build on top of a corrupt index, in one line, and --rebuild repairs it
    result = run_ingest(cfg.data_dir, str(docs))
    assert result.returncode == 2 and "--rebuild" in result.stderr and "Traceback" not in result.stderr
    assert run_ingest(cfg.data_dir, "--rebuild", str(docs)).returncode == 0
    assert len(KnowledgeBase.open(cfg.index_dir, embedder)) > 0


def test_index_of_another_embedder_is_refused(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    ingest([docs], cfg, progress=False, embedder=embedder)
    meta_path = store.current_path(cfg.index_dir) / store.META
    meta = json.loads(meta_path.read_text())

    class Other:
        name, dim = "e5-small", 384

        def embed(self, texts):  # never called: open refuses first
            raise AssertionError

    with pytest.raises(IndexUnavailable, match="embedder"):
        KnowledgeBase.open(cfg.index_dir, Other())
    assert meta["embedder"] == embedder.name


def test_sentence_transformers_backend_needs_the_extra(cfg: IngestSettings) -> None:
    try:
        import sentence_transformers  # noqa: F401

        pytest.skip("the sentence-transformers extra is installed")
    except ImportError:
        pass
    with pytest.raises(UserError, match=r"wyoming-xnai\[sentence-transformers\]"):
        load_embedder(cfg.model_copy(update={"handle_embedder": "sentence-transformers"}))


# --- security ---------------------------------------------------------------------------------


def test_symlinks_out_of_the_folder_are_not_followed(docs: Path, tmp_path: Path, embedder: OnnxMiniLM) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("The secret launch code is 8812 and must never be read.\n")
    os.symlink(outside / "secret.txt", docs / "link.txt")
    os.symlink(outside, docs / "linked_dir")
    os.symlink("../outside/secret.txt", docs / "relative.md")
    os.symlink(docs / "house.txt", docs / "inside_link.txt")  # a link that stays inside is fine (same file)
    (docs / "sub").mkdir()
    os.symlink("../../outside", docs / "sub" / "up")
    result = run_ingest(tmp_path / "data", str(docs))
    assert result.returncode == 0, result.stderr
    kb = KnowledgeBase.open(tmp_path / "data" / "index", embedder)
    assert names(kb) == {"house.txt", "appliances.md", "pets.html", "garden_and_car.pdf"}
    assert all(Path(s).is_relative_to(docs) for s in kb.sources)
    assert not any("launch code" in p.text for p in kb.search("What is the secret launch code?", len(kb)))


# --- parts ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="abcdefgh .\n", min_size=1, max_size=400), min_size=1, max_size=5),
    st.integers(10, 100),
    st.data(),
)
def test_chunks_respect_size_and_keep_every_word(paragraphs: list[str], max_words: int, data) -> None:
    overlap = data.draw(st.integers(0, max_words - 1))
    text = "\n\n".join(paragraphs)
    chunks = chunk_text(text, max_words, overlap)
    assert all(len(c.split()) <= max_words for c in chunks)
    assert sorted({w for c in chunks for w in c.split()}) == sorted(set(text.split()))


def test_headings_carried_to_the_next_chunk_never_overflow_it() -> None:
    """Found by hypothesis: short lines count as headings; carried forward together they overflowed."""
    text = "\n\n".join(["a\na", "a a", "a a", "a a", "a a a a"])
    chunks = chunk_text(text, 10, 0)
    assert all(len(c.split()) <= 10 for c in chunks)
    assert sum(len(c.split()) for c in chunks) == len(text.split())


def test_chunks_overlap_and_keep_headings_with_their_text() -> None:
    text = (DOCS / "house.txt").read_text()
    chunks = chunk_text(text, 60, 20)
    assert len(chunks) >= 4
    for a, b in itertools.pairwise(chunks):
        assert set(a.split()) & set(b.split())
    assert not any(c.endswith(("Neighbours", "Heating", "Rubbish and recycling")) for c in chunks)
    assert any("Mrs. Okafor at number 14" in c for c in chunks)  # no sentence break after "Mrs."


def test_embeddings_are_unit_rows_and_semantic(embedder: OnnxMiniLM) -> None:
    rows = embedder.embed(["Where is the spare key?", "The spare house key is under the flower pot.", "Bins: Thursday"])
    assert rows.dtype == np.float32 and rows.shape == (3, 384)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert rows[0] @ rows[1] > rows[0] @ rows[2]
    assert embedder.embed([]).shape == (0, 384)


def test_hnsw_recall_at_5_against_exact_on_real_embeddings(embedder: OnnxMiniLM) -> None:
    """A few thousand real MiniLM vectors; efSearch tuned on one query set, recall checked on another."""
    rng = np.random.default_rng(7)
    subjects = "the boiler|the dog|the cat|the router|the car|the shed|the kettle|the bins|the garden tap|the fuse box|the attic|the piano|the bicycle|the oven|the fridge".split(
        "|"
    )
    verbs = (
        "is serviced|is checked|is cleaned|is locked|is fed|is repaired|is moved|is painted|is emptied|is reset".split(
            "|"
        )
    )
    whens = "every Monday|in March|before winter|after dinner|at seven|on the first day of the month|twice a year|when it rains|by the neighbour|at the weekend".split(
        "|"
    )
    wheres = "in the hall|behind the house|in the garage|by the gate|upstairs|in the utility room|at number 14|in the study".split(
        "|"
    )
    sentences = sorted(
        {
            f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(whens)} {rng.choice(wheres)}."
            for _ in range(2600)
        }
    )
    vectors = embedder.embed(sentences)
    assert len(vectors) >= 2000
    questions = [
        f"When {rng.choice(verbs).split()[0]} {rng.choice(subjects)} {rng.choice(verbs).split()[1]}?"
        for _ in range(300)
    ] + [f.question for f in FACTS]
    queries = embedder.embed(questions)
    index, info = build_index(vectors, hnsw_threshold=1)
    assert info.kind == "hnsw" and info.recall_at_5 >= 0.98
    assert recall_at_k(index, exact_index(vectors), queries, 5) >= 0.98
    # the tuning matters: a very small efSearch loses recall on this data
    fresh = hnsw_index(vectors)
    fresh.hnsw.efSearch = 5
    tuned_recall = tune_ef_search(fresh, vectors, 0.99, queries=queries)
    assert tuned_recall >= 0.99 and fresh.hnsw.efSearch >= 5


# --- document units: each note with what it needs to be understood (in-process) ------------------


def _units(text: str) -> dict[str, str]:
    from wyoming_xnai.rag.outline import units

    return {u.text: u.context for u in units(text) if not u.heading}


def test_markdown_bullets_get_their_full_heading_path() -> None:
    text = "# Car notes\n\n## Van\n\n- Oil: 5W-30.\n- Tyres: 3.1 bar.\n\n## Scooter\n\n- Oil: 10W-40.\n"
    got = _units(text)
    assert got["Oil: 5W-30."] == "Car notes > Van" and got["Oil: 10W-40."] == "Car notes > Scooter"
    assert got["Tyres: 3.1 bar."] == "Car notes > Van"  # a sibling heading closes the one before


def test_elliptic_sentences_lean_on_the_sentence_before() -> None:
    text = (
        "POOL\nThe pool pump is run by Aqua Brothers of Stoke. Phone 0111 222 333.\n\n"
        "The sand filter sits behind the garden shed. The valve is red. Rinse it weekly with the hose.\n"
    )
    got = _units(text)
    assert got["Phone 0111 222 333."] == "POOL > The pool pump is run by Aqua Brothers of Stoke."  # a bare label and value
    assert got["The sand filter sits behind the garden shed."] == "POOL"  # a whole first sentence: its headings
    # later sentences: what the paragraph is about (its first sentence), and the one before when they lean on it
    assert got["Rinse it weekly with the hose."] == "POOL > The sand filter sits behind the garden shed. > The valve is red."


def test_a_label_carries_to_the_other_sentences_of_its_block() -> None:
    got = _units("Sauna heater: 6 kW, on the left wall. Installed 2021 by the previous owner of the flat.\n")
    assert got["Installed 2021 by the previous owner of the flat."] == "Sauna heater"


def test_a_paragraph_of_whole_lines_is_a_list_each_line_its_own_topic() -> None:
    text = (
        "METERS\nGas meter: in the box by the door. The key hangs in the garage.\n"
        "Electric meter and fuse box (consumer unit): under the stairs. Meter serial AB12 3456.\n"
        "To reset it, lift the switch. Excess £250.\n"
    )
    got = _units(text)
    assert got["The key hangs in the garage."] == "METERS > Gas meter"
    assert got["Meter serial AB12 3456."] == "METERS > Electric meter and fuse box (consumer unit): under the stairs."
    assert got["To reset it, lift the switch."].startswith("METERS > Electric meter")  # an elliptic line leans on the one before
    wrapped = _units("GARDEN\nThe water butt by the shed next to the compost bins holds\n200 litres. Use it first.\n")
    assert wrapped["Use it first."] == "GARDEN > The water butt by the shed next to the compost bins holds 200 litres."  # one paragraph
    from wyoming_xnai.rag.outline import notes, units

    assert "Excess £250." in [u.text for u in notes(units(text))]  # a label and its value is a note


def test_table_rows_pair_each_cell_with_its_column_header() -> None:
    text = "## Lights\n\nEvening plan:\n\n| Room | On | Off |\n|---|---|---|\n| Porch | 18:00 | 23:30 |\n| Hall | 19:00 | 22:00 |\n"
    got = _units(text)
    assert got["Porch: On 18:00; Off 23:30"] == "Lights > Evening plan:"
    assert "Hall: On 19:00; Off 22:00" in got


def test_html_tables_headings_and_lists_reach_the_notes(tmp_path: Path) -> None:
    page = tmp_path / "plants.html"
    page.write_text(
        "<html><body><h1>Plants</h1><h2>Watering</h2><table><tr><th>Plant</th><th>Water</th></tr>"
        "<tr><td>Fern</td><td>every 3 days</td></tr><tr><td>Cactus</td><td>monthly</td></tr></table>"
        "<ul><li>Feed in May.</li></ul></body></html>"
    )
    got = _units(parse_document(page, page.read_bytes()))
    assert got["Fern: Water every 3 days"] == "Plants > Watering" and got["Cactus: Water monthly"] == "Plants > Watering"
    assert got["Feed in May."] == "Plants > Watering"


def test_underlined_short_and_nested_headings() -> None:
    text = (
        "Cellar notes\n============\n\nWine rack\nThe racks hold 40 bottles. Keep it at 12 degrees.\n\n"
        "* Dehumidifier: under the stairs.\n    * Tank: empty it every Sunday.\n"
    )
    got = _units(text)
    assert got["The racks hold 40 bottles."] == "Cellar notes > Wine rack"  # not glued to the heading
    assert got["Tank: empty it every Sunday."].endswith("> Dehumidifier: under the stairs.")  # its parent item


def test_names_are_proper_nouns_of_running_text_not_heading_words(docs: Path, cfg: IngestSettings, embedder: OnnxMiniLM) -> None:
    (docs / "garden.md").write_text("# Boiler and Garden\n\n## Boiler\n\nThe boiler is serviced by Quenby Heating. The heating is off in May.\n")
    ingest([docs], cfg, progress=False, embedder=embedder)
    names = KnowledgeBase.open(cfg.index_dir, embedder).names
    from wyoming_xnai.text.words import stem

    assert stem("Quenby") in names and stem("Boiler") not in names and stem("Heating") not in names
