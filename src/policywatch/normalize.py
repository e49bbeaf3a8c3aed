"""Turns a fetched page into canonical text: the policy's words, structure kept.

Pure: the same page and extraction settings always give the same text. No I/O.
The text is Markdown-like: ``#`` headings, paragraphs separated by blank lines,
``- `` list items, table rows with ``|`` between cells, and link targets kept
where the link text alone would hide them.

Bump :data:`RELEASE` whenever a change here can change the text of any page:
versions record the release that made them, and ``policywatch renormalize``
re-derives texts from the stored raw pages, recording technical changes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from policywatch.catalog import Extraction

RELEASE = 1

# Elements that never hold policy text.
DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "object",
    "embed",
    "video",
    "audio",
    "picture",
    "img",
    "button",
    "input",
    "select",
    "textarea",
    "form",
    "dialog",
    "head",
    "meta",
    "link",
)
# Page chrome: dropped unless a ``select`` setting picks it.
CHROME_SELECTORS = (
    "nav",
    "header",
    "footer",
    "aside",
    "[role=navigation]",
    "[role=banner]",
    "[role=contentinfo]",
    "[role=dialog]",
    "[hidden]",
    "[aria-hidden=true]",
    "[style*='display:none']",
    "[style*='display: none']",
    "[id*=cookie i]",
    "[class*=cookie i]",
    "[id*=consent i]",
    "[class*=consent i]",
    "[id*=onetrust i]",
    "[class*=skip-link i]",
)
MAIN_SELECTORS = ("main", "[role=main]", "article")
BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "body",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "html",
    }
)
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\u2060": "",
        "\ufeff": "",
        "\u00ad": "",
    }
)
SPACES = re.compile(r"[ \t\r\f\v]+")
# Link targets worth keeping in the text: where the link text alone hides
# what a reader needs (an opt-out form, a settings page, an e-mail address).
KEEP_TARGET = re.compile(r"opt|privacy|setting|form|mailto:|request|control", re.I)


def canonical(text: str) -> str:
    """Fold Unicode forms, quotes, dashes and white space into one spelling."""
    text = unicodedata.normalize("NFKC", text).translate(TRANSLATE)
    lines = (SPACES.sub(" ", line).strip() for line in text.split("\n"))
    paragraphs: list[str] = []
    blank = True
    for line in lines:
        if not line:
            blank = True
            continue
        if blank and paragraphs:
            paragraphs.append("")
        paragraphs.append(line)
        blank = False
    return "\n".join(paragraphs) + ("\n" if paragraphs else "")


def text_hash(text: str) -> str:
    """The SHA-256 of a canonical text, hex encoded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize(
    page: str,
    *,
    content_type: str = "text/html",
    extraction: Extraction | None = None,
) -> str:
    """The canonical text of a page.

    HTML is reduced to its main content (or what ``extraction.select`` picks);
    plain text is only canonicalised. ``extraction.ignore`` patterns are
    removed from the final text.
    """
    extraction = extraction or Extraction()
    if "html" in content_type or "xml" in content_type:
        text = _html_text(page, extraction)
    else:
        text = page
    text = canonical(text)
    for pattern in extraction.ignore:
        text = re.sub(pattern, "", text)
    return canonical(text) if extraction.ignore else text


def _html_text(page: str, extraction: Extraction) -> str:
    soup = BeautifulSoup(page, "lxml")
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(DROP_TAGS):
        tag.decompose()
    for selector in extraction.remove:
        for tag in soup.select(selector):
            tag.decompose()
    if extraction.select:
        roots = [tag for selector in extraction.select for tag in soup.select(selector)]
    else:
        for selector in CHROME_SELECTORS:
            for tag in soup.select(selector):
                tag.decompose()
        roots = _main_content(soup)
    blocks: list[str] = []
    for root in roots:
        _render(root, blocks)
    return "\n\n".join(block for block in blocks if block.strip())


def _main_content(soup: BeautifulSoup) -> list[Tag]:
    for selector in MAIN_SELECTORS:
        found = soup.select(selector)
        if found:
            # Keep the outermost matches only, so nested articles are not doubled.
            return [tag for tag in found if not any(p in found for p in tag.parents)]
    body = soup.body or soup
    return [body] if isinstance(body, Tag) else []


def _inline_text(node: Tag) -> str:
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, NavigableString):
            parts.append(str(child))
        elif isinstance(child, Tag):
            if child.name == "br":
                parts.append("\n")
            elif child.name == "a":
                parts.append(_link_text(child))
            else:
                parts.append(_inline_text(child))
    return "".join(parts)


def _link_text(link: Tag) -> str:
    label = _inline_text(link)
    href = link.get("href")
    if (
        isinstance(href, str)
        and KEEP_TARGET.search(href)
        and label.strip()
        and not href.startswith(("#", "javascript:"))
    ):
        return f"[{label.strip()}]({href.strip()})"
    return label


def _render(node: Tag, blocks: list[str]) -> None:
    """Append the blocks of ``node`` to ``blocks``, in document order."""
    name = node.name
    if name in HEADINGS:
        blocks.append("#" * HEADINGS[name] + " " + " ".join(_inline_text(node).split()))
        return
    if name == "tr":
        cells = [" ".join(_inline_text(c).split()) for c in node.find_all(["td", "th"])]
        blocks.append("| " + " | ".join(cells) + " |")
        return
    if name == "li":
        inner: list[str] = []
        _render_children(node, inner)
        if inner:
            blocks.append("- " + inner[0])
            blocks.extend(inner[1:])
        return
    if name == "pre":
        blocks.append(node.get_text())
        return
    _render_children(node, blocks)


def _render_children(node: Tag, blocks: list[str]) -> None:
    run: list[str] = []
    for child in node.children:
        if isinstance(child, Tag) and child.name in BLOCK_TAGS | {"li", "tr"}:
            _flush(run, blocks)
            _render(child, blocks)
        elif isinstance(child, Tag):
            run.append(_link_text(child) if child.name == "a" else _inline_text(child))
            if child.name == "br":
                run.append("\n")
        elif isinstance(child, NavigableString):
            run.append(str(child))
    _flush(run, blocks)


def _flush(run: list[str], blocks: Iterable[str] | list[str]) -> None:
    text = "".join(run)
    run.clear()
    lines = [" ".join(line.split()) for line in text.split("\n")]
    joined = "\n".join(line for line in lines if line)
    if joined and isinstance(blocks, list):
        blocks.append(joined)
