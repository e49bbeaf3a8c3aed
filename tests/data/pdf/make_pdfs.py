"""Makes the PDF policies the PDF tests serve, from real corpus text.

Each PDF lays out the Markdown text that Open Terms Archive extracted from one
capture of Google's Generative AI Prohibited Use Policy (tests/data/corpus,
ODC-BY 1.0, "Open Terms Archive"): a bold title, wrapped paragraphs, indented
numbered lists and a "Page N of M" footer, on small pages so the text spans
several of them. Beside each PDF, ``.txt`` holds the paragraphs written into
it, one per block, which is what extracting the PDF should give back.

Run from the repository root with fpdf2 installed (``pip install fpdf2``):
    python tests/data/pdf/make_pdfs.py
The PDFs are committed; tests only read them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fpdf import FPDF

HERE = Path(__file__).parent
CORPUS = (
    HERE.parent / "corpus" / "google-gemini" / "generative-ai-prohibited-use-policy"
)
CAPTURES = ("2024-12-17T12-31-23Z", "2024-12-18T00-31-23Z")
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
# A5 cut short, so that a page break falls inside a paragraph of each capture.
PAGE = (148, 152)
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
ITEM = re.compile(r"^( *)(\d+\.) (.*)$")


def blocks(markdown: str) -> list[tuple[str, int, str]]:
    """The blocks of the Markdown text: (kind, indent level, text)."""
    found: list[tuple[str, int, str]] = []
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        text = LINK.sub(r"\1", line).replace("**", "").strip()
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if not text or set(text) == {"="}:
            continue
        if set(following.strip()) == {"="}:
            found.append(("title", 0, text))
        elif match := ITEM.match(line):
            level = len(match[1]) // 4
            found.append(("item", level, f"{match[2]} {match[3].strip()}"))
        else:
            found.append(("paragraph", 0, text))
    return found


def make(capture: str) -> None:
    """Write ``<capture>.pdf`` and ``<capture>.txt`` from the capture's Markdown."""
    markdown = (CORPUS / f"{capture}.md").read_text(encoding="utf-8")
    document = FPDF(format=PAGE)
    # A fixed date: the same input gives the same bytes.
    document.set_creation_date(dt.datetime(2024, 12, 18, tzinfo=dt.UTC))
    document.set_title("Generative AI Prohibited Use Policy")
    document.add_font("body", "", str(FONT))
    document.add_font("body", "B", str(FONT_BOLD))
    document.alias_nb_pages()
    document.set_auto_page_break(auto=True, margin=18)

    def footer() -> None:
        document.set_y(-12)
        document.set_font("body", "", 8)
        document.cell(0, 6, f"Page {document.page_no()} of {{nb}}", align="C")

    document.footer = footer  # type: ignore[method-assign]
    document.add_page()
    written = []
    for kind, level, text in blocks(markdown):
        if kind == "title":
            document.set_font("body", "B", 14)
            document.multi_cell(0, 7, text)
        else:
            document.set_font("body", "", 10)
            document.set_x(document.l_margin + 6 * level)
            document.multi_cell(0, 5, text)
        document.ln(3)
        written.append(text)
    document.output(str(HERE / f"{capture}.pdf"))
    (HERE / f"{capture}.txt").write_text("\n\n".join(written) + "\n", encoding="utf-8")


if __name__ == "__main__":
    for name in CAPTURES:
        make(name)
