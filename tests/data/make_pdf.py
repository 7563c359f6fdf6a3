"""Writes tests/data/docs/garden_and_car.pdf: a real, minimal PDF (Helvetica text, correct xref).

Run once by hand from the repository root (`python -m tests.data.make_pdf`); the PDF is committed. No PDF tool is
needed: the file layout is the evaluation sets' (bench/data/answers/make_pdfs.py).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from bench.data.answers.make_pdfs import pdf_file

TITLE = "Garden, shed and car"
PARAGRAPHS = [
    "The garden tap key hangs on the hook inside the shed door. The outside tap is by the back step and "
    "must be drained before the first frost in November.",
    "The lawn mower is a Greenmoor 40 and runs on unleaded petrol; the fuel can is on the shelf above the "
    "workbench. Mow on Saturdays after ten in the morning, never on Sundays, the neighbours asked.",
    "The hedge trimmer battery charges in the kitchen, not in the shed, because the cold ruins it. "
    "The compost bin is emptied every spring onto the vegetable beds.",
    "The car is a blue Skoda estate, registration KX19 LMT. The tyre pressure is 2.4 bar at the front and "
    "2.6 bar at the back. The car service and MOT are due every May at Pellow Motors.",
    "The car insurance is with Lindqvist Mutual, policy number LM-88231. In case of a breakdown call their "
    "rescue line on 555 0163. The spare wheel is under the boot floor with the jack.",
    "The bicycle lock combination is 4-7-1-9. The bicycles hang on the wall hooks in the garage.",
]


def content_stream() -> bytes:
    lines = ["BT", "/F1 16 Tf", "72 760 Td", "18 TL", f"({TITLE}) Tj", "/F1 11 Tf", "14 TL", "T*"]
    for para in PARAGRAPHS:
        lines.append("T*")
        for line in textwrap.wrap(para, 88):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            lines.append(f"({escaped}) Tj T*")
    lines.append("ET")
    return "\n".join(lines).encode("latin-1")


def build() -> bytes:
    stream = content_stream()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + TITLE.encode("latin-1") + b") /Producer (xnai tests/data/make_pdf.py) >>",
    ]
    return pdf_file(objects, info=6)

if __name__ == "__main__":
    target = Path(__file__).parent / "docs" / "garden_and_car.pdf"
    target.write_bytes(build())
    print(f"wrote {target}")
