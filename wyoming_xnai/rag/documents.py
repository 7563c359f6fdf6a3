"""Find the documents under the folders the user names, and turn each one into plain text.

Security: nothing outside the given folders is read. Symlinked folders are not entered and a symlinked
file is read only when its target resolves inside the same folder (so `ln -s /etc/shadow docs/x.txt`
or `ln -s / docs/root` index nothing). The scan and the read happen at different times, so the read does
not trust the scan: each file is opened once, without following a symlink, and the opened descriptor
itself must be a regular file inside its folder and under the size cap before a byte is read; its
checksum is computed from those same bytes as they stream in.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
            ".html": "html", ".htm": "html", ".pdf": "pdf"}  # fmt: skip
MAX_BYTES = 50 * 1024 * 1024  # one document; bigger files are skipped, not loaded into memory
BLOCK = 1024 * 1024


class DocumentError(Exception):
    """This file cannot be read as a document (one-line reason)."""


@dataclass(frozen=True)
class Found:
    path: Path  # resolved, absolute: the document's identity in the index
    root: Path  # the folder (or file) the user named, resolved


def find_documents(paths: list[Path]) -> tuple[list[Found], list[tuple[Path, str]]]:
    """Supported files under `paths` (files or folders), and the named paths that were refused with why."""
    found: dict[Path, Found] = {}
    refused: list[tuple[Path, str]] = []
    for given in paths:
        root = Path(os.path.abspath(given.expanduser()))
        if not root.exists():
            refused.append((given, "does not exist"))
            continue
        resolved = root.resolve()
        if resolved.is_file():
            if resolved.suffix.lower() in SUFFIXES:
                found.setdefault(resolved, Found(resolved, resolved))
            else:
                refused.append((given, f"unsupported file type {resolved.suffix or '(none)'}"))
            continue
        for dirpath, dirnames, filenames in os.walk(resolved, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                file = Path(dirpath) / name
                if file.suffix.lower() not in SUFFIXES:
                    continue
                target = file.resolve()
                if not target.is_relative_to(resolved):
                    log.warning("skipping %s: it links outside %s", file, resolved)
                    continue
                if target.is_file():
                    found.setdefault(target, Found(target, resolved))
    return list(found.values()), refused


def read_document(found: Found) -> tuple[bytes, str]:
    """The file's bytes and their sha256, read once through a descriptor checked before reading: a
    regular file, inside its folder, at most MAX_BYTES. Raises DocumentError."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(found.path, flags)
    except OSError as err:
        raise DocumentError("it is a symlink now" if err.errno == errno.ELOOP else err.strerror or str(err)) from None
    try:
        _check_opened(fd, found)
        return _read_hashing(fd)
    except OSError as err:
        raise DocumentError(err.strerror or str(err)) from None
    finally:
        os.close(fd)


def document_text(found: Found) -> str:
    """The text of one document `find_documents` found, read once and checked as ingest reads it."""
    data, _digest = read_document(found)
    return parse_document(found.path, data)


def _check_opened(fd: int, found: Found) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise DocumentError("not a regular file")
    if info.st_size > MAX_BYTES:
        raise DocumentError(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    proc = Path(f"/proc/self/fd/{fd}")
    if proc.parent.is_dir():  # Linux: where the descriptor really points, whatever happened to the path
        real = Path(os.readlink(proc))
        if not real.is_relative_to(found.root):
            raise DocumentError(f"it now leads outside {found.root}")


def _read_hashing(fd: int) -> tuple[bytes, str]:
    digest = hashlib.sha256()
    blocks: list[bytes] = []
    size = 0
    while block := os.read(fd, BLOCK):
        size += len(block)
        if size > MAX_BYTES:  # it grew after the check
            raise DocumentError(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
        digest.update(block)
        blocks.append(block)
    return b"".join(blocks), digest.hexdigest()


def parse_document(path: Path, data: bytes) -> str:
    """The text of a document's bytes (its kind from its name); raises DocumentError for unreadable,
    empty or broken files."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(f"unsupported file type {path.suffix}")
    try:
        if kind == "pdf":
            text = _pdf_text(data)
        elif kind == "html":
            text = _html_text(data)
        else:
            text = _plain_text(data)
    except DocumentError:
        raise
    except Exception as err:  # parsers raise many kinds of errors on broken files; one bad file is not fatal
        raise DocumentError(f"cannot parse {kind}: {type(err).__name__}: {err}") from None
    if not text.strip():
        raise DocumentError("no text in it" + (" (a scanned PDF needs OCR first)" if kind == "pdf" else ""))
    return text


def _plain_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 (old notes saved on Windows); binary is refused."""
    if b"\x00" in data[:8192]:
        raise DocumentError("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            reader.decrypt("")
        except Exception:
            raise DocumentError("encrypted PDF") from None
    return "\n\n".join(page.extract_text() or "" for page in reader.pages)


_HTML_BLOCKS = ("p", "div", "li", "tr", "br", "section", "article", "blockquote", "pre",
                "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "td", "th")  # fmt: skip


def _html_text(data: bytes) -> str:
    """Visible text, one paragraph per block element; scripts, styles and navigation are dropped.
    Headings, list items and table rows are written as markdown ("## ...", "- ...", "| a | b |"), so
    the structure reaches the notes (`rag/outline.py`): a table cell keeps its column header."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    tree = HTMLParser(_plain_text(data))
    tree.strip_tags(["script", "style", "noscript", "template", "nav", "head", "svg"])
    body = tree.body or tree.root
    if body is None:
        return ""
    blocks: list[str] = []
    inside_table: set[int] = set()
    for node in body.traverse(include_text=False):
        if node.mem_id in inside_table:
            continue
        if node.tag == "table":
            inside_table.update(n.mem_id for n in node.traverse(include_text=False))
            if rows := _html_table(node):
                blocks.append(rows)
        elif node.tag in _HTML_BLOCKS and not any(child.tag in _HTML_BLOCKS for child in node.iter(include_text=False)):
            text = node.text(separator=" ", strip=True)
            if text:
                blocks.append(_markdown_block(node.tag, text))
    if not blocks:
        return body.text(separator="\n", strip=True)
    return "\n\n".join(blocks)


def _markdown_block(tag: str, text: str) -> str:
    text = " ".join(text.split())
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return f"{'#' * int(tag[1])} {text}"
    return f"- {text}" if tag == "li" else text


def _html_table(table) -> str:
    """The table as markdown rows; a first row of header cells becomes the header."""
    lines = []
    for i, row in enumerate(table.css("tr")):
        cells = row.css("th, td")
        if not cells:
            continue
        texts = [" ".join(c.text(separator=" ", strip=True).split()).replace("|", "/") for c in cells]
        lines.append("| " + " | ".join(texts) + " |")
        if i == 0 and all(c.tag == "th" for c in cells):
            lines.append("|" + "---|" * len(cells))
    return "\n".join(lines)
