"""Extracts the text of a PDF policy, for normalize to treat like any page.

Uses pypdf, an optional extra (``pip install 'policywatch[pdf]'``). The text
is the PDF's text layer page by page, with the lines of a paragraph that the
layout wrapped joined again and lone page numbers dropped, so that a PDF laid
out anew with the same words gives the same text. A PDF that cannot be read
(pypdf missing, damaged, encrypted, or scanned with no text layer) raises
:class:`GateError`: a failed check with a reason, never a version.

Known limits: no layout analysis, so text in columns or tables comes out in
the order pypdf reads it; headings are not marked as headings.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from policywatch.errors import GateError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/pdf"
INSTALL_PYPDF = (
    "PDF sources need pypdf, which is not installed: pip install 'policywatch[pdf]'"
)
PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?\s*$", re.I)
# A line that opens a list item always starts a new paragraph.
ITEM = re.compile(r"^(?:\d{1,3}[.)]|[a-z][.)]|[-•*•▪])\s")
# A line starting like this carries on the sentence of the line before.
CONTINUES = re.compile(r"^[a-z(\[,;:)\]]")
SENTENCE_END = re.compile(r"[.:;!?][\"')\]]?$")
# Without gaps, a line at least this share of a full line was wrapped by the
# layout; and a text with more lines than this per gap, on average, has no
# gaps between its paragraphs.
WRAPPED = 0.7
GAPLESS_LINES = 6


def extract_text(body: bytes) -> str:
    """The text of the PDF in ``body``, paragraphs separated by blank lines."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as exc:
        raise GateError(INSTALL_PYPDF, reason="pdf-support-missing") from exc

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted and not reader.decrypt(""):
            raise GateError("the PDF is encrypted", reason="pdf-unreadable")
        pages = [_page_text(page) for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise GateError(
            f"the PDF cannot be read: {exc}", reason="pdf-unreadable"
        ) from exc

    text = reflow(pages)
    if not text.strip():
        raise GateError(
            f"the PDF has no text layer in its {len(pages)} pages (a scanned image?)",
            reason="pdf-no-text",
        )
    return text


def _page_text(page: Any) -> str:
    # Layout mode keeps the vertical gaps between paragraphs as blank lines.
    return str(page.extract_text(extraction_mode="layout") or "")


def reflow(pages: list[str]) -> str:
    """The paragraphs of the pages' text, separated by blank lines.

    Lines between two blank lines (a vertical gap in the layout) are one
    paragraph. A paragraph that runs on over a page break is joined again.
    When the layout leaves no gaps between paragraphs, lines are joined by
    the shape of the text instead: a line that opens a list item, or that
    follows a sentence's end or a short line, opens a new paragraph.
    """
    blocks: list[list[str]] = []
    for page in pages:
        page_blocks = _blocks(page)
        if blocks and page_blocks and _runs_on(blocks[-1][-1], page_blocks[0][0]):
            blocks[-1].extend(page_blocks.pop(0))
        blocks.extend(page_blocks)

    lines = sum(len(block) for block in blocks)
    if len(blocks) * GAPLESS_LINES < lines:
        width = _text_width([line for block in blocks for line in block])
        blocks = [part for block in blocks for part in _split(block, width)]
    return "\n\n".join(_join(block) for block in blocks)


def _blocks(page: str) -> list[list[str]]:
    """The runs of non-blank lines of one page, page numbers left out."""
    blocks: list[list[str]] = [[]]
    for raw in page.splitlines():
        line = " ".join(raw.split())
        if PAGE_NUMBER.match(line):
            continue
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def _runs_on(previous: str, line: str) -> bool:
    """Whether ``line`` carries on the sentence that ``previous`` ends with."""
    if ITEM.match(line):
        return False
    return bool(CONTINUES.match(line)) or not SENTENCE_END.search(previous)


def _split(block: list[str], width: int) -> list[list[str]]:
    """Cut a block of lines into paragraphs by the shape of the text."""
    parts: list[list[str]] = []
    for line in block:
        previous = parts[-1][-1] if parts else ""
        wrapped = len(previous) >= WRAPPED * width
        if parts and _runs_on(previous, line) and (wrapped or CONTINUES.match(line)):
            parts[-1].append(line)
        else:
            parts.append([line])
    return parts


def _join(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        text += line if text.endswith("-") else f" {line}"
    return text


def _text_width(lines: list[str]) -> int:
    """The length of a full line: the 90th percentile of line lengths."""
    if not lines:
        return 0
    lengths = sorted(len(line) for line in lines)
    return lengths[int(0.9 * (len(lengths) - 1))]
