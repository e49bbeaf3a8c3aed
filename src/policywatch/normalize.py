"""Turns a fetched page into canonical text: the policy's words, structure kept.

Pure: the same page and extraction settings always give the same text. No I/O.
The text is Markdown-like: ``#`` headings, paragraphs separated by blank lines,
``- `` list items, table rows with ``|`` between cells, and link targets kept
where the link text alone would hide them (an opt-out form, a settings page).

Without a ``select`` setting the main content is found on its own: the page's
``main`` (or ``article``), else its body, minus chrome: navigation, site
headers and footers, cookie banners, hidden and screen-reader-only elements,
forms and language pickers. A chrome signal is never trusted for an element
that holds most of the text, so a page whose whole content sits in, say, an
``aria-hidden`` wrapper behind a log-in dialog still gives its policy.

Bump :data:`RELEASE` whenever a change here can change the text of any page:
versions record the release that made them, and ``policywatch renormalize``
re-derives texts from the stored raw pages, recording technical changes.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, cast

import soupsieve
from bs4 import (
    BeautifulSoup,
    CData,
    MarkupResemblesLocatorWarning,
    Tag,
    XMLParsedAsHTMLWarning,
)
from bs4.element import NavigableString
from lxml import etree  # type: ignore[import-untyped]

from policywatch.catalog import Extraction
from policywatch.errors import CatalogError

RELEASE = 2

# Any string is a page here: short ones that look like a URL or XML included.
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)

# Elements that never hold policy text, whatever the settings.
DROP_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "canvas",
        "iframe", "frame", "frameset", "object", "embed", "video", "audio",
        "picture", "img", "source", "track", "map", "button", "input",
        "select", "option", "optgroup", "datalist", "textarea", "label",
        "head", "meta", "link", "title", "base", "hr",
    }
)  # fmt: skip
# Elements that hold chrome rather than the policy (unless they hold most of it).
CHROME_TAGS = frozenset({"nav", "aside", "form", "dialog", "menu", "search"})
CHROME_ROLES = frozenset(
    {
        "navigation", "banner", "contentinfo", "dialog", "alertdialog",
        "search", "menu", "menubar", "toolbar", "tablist", "complementary",
        "button", "menuitem", "tab", "option", "listbox", "combobox",
        "checkbox", "radio", "switch", "slider", "spinbutton", "textbox",
    }
)  # fmt: skip
# Sectioning elements inside which a header or footer belongs to the document.
SECTIONS = frozenset({"main", "article"})
# Chrome by name: a word of an element's id, class, name or label that ends
# like a menu's or a footer's ...
CHROME_WORD = re.compile(
    r"(?:^|[-_])(?:side-?nav|sidebar|navbar|nav|navigation|menu|breadcrumbs?|toc"
    r"|table-of-contents|footer|skip-?links?|skip-to-content)$",
    re.I,
)
# ... or that names a cookie banner, a consent manager, a language picker or
# screen-reader-only text.
CHROME_VENDOR = re.compile(
    r"cookie[-_]?(?:banner|bar|consent|notice|law|popup|modal|wall)|cookieconsent"
    r"|consent[-_]?(?:banner|manager|modal|popup)|onetrust|ot-sdk|cookiebot"
    r"|truste|didomi|usercentrics|osano|qc-cmp|iubenda|termly|^cky-|^cc-window"
    r"|^gdpr[-_]?(?:banner|consent|popup)"
    r"|lang(?:uage)?[-_]?(?:select|switch|picker|option|chooser|menu|dropdown)"
    r"|locale[-_]?(?:select|switch|picker)"
    r"|^(?:sr-only|visually-?hidden|screen-?reader-?(?:text|only)|offscreen)$",
    re.I,
)
# Names of a site's own header, chrome only outside the document's sections.
SITE_HEADER = re.compile(
    r"(?:^|[-_])(?:header|masthead|topbar|top-bar)(?:$|[-_])", re.I
)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Class tokens and styles that make an inline element display as a block.
BLOCK_CLASSES = frozenset({"block", "flex", "grid", "table", "flow-root"})
BLOCK_STYLE = re.compile(r"display\s*:\s*(?:block|flex|grid|table|list-item)", re.I)
SKIP_LINK = re.compile(r"^\s*skip (?:to|navigation)", re.I)
# Chrome is kept when it holds more than this share of the content's text.
CHROME_GUARD = 0.5
# A block whose text is nearly all links to other pages is a menu or a footer.
LINK_FARM_LINKS = 4
LINK_FARM_SHARE = 0.85
# Tags rendered inline; every other tag (custom elements too) is a block.
INLINE_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code",
        "data", "del", "dfn", "em", "font", "i", "ins", "kbd", "mark", "nobr",
        "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "br",
    }
)  # fmt: skip
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# A paragraph that is a numbered section title: a heading in all but markup.
NUMBERED_TITLE = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?|[IVX]+\.)\s+[^\W\d][^\n]{0,100}(?<![.;:,])$"
)
CELLS = frozenset({"td", "th"})
# A heading or cell that holds one of these is laid out as blocks, not a line.
LAYOUT_INSIDE = frozenset({"table", "h1", "h2", "h3", "h4", "h5", "h6"})
MAX_DEPTH = 120

# Link targets worth keeping in the text: where the link text alone hides
# what a reader needs (an opt-out form, a settings page, an e-mail address).
KEEP_TARGET = re.compile(
    r"opt[\s_-]?out|unsubscribe|do[\s_-]?not[\s_-]?(?:sell|share)|privacy[\s_-]?"
    r"(?:choices|settings|request|portal|center|centre)|settings|preferences"
    r"|controls?\b|request|\bforms?\b|webform|typeform|portal",
    re.I,
)
VAGUE_LABEL = re.compile(r"^(?:here|click here|this (?:form|link|page)|link)\.?$", re.I)
# Parts of a link target that change from fetch to fetch: redirect and session
# tokens, cache-busting ids.
VOLATILE_TOKEN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{24,}",
    re.I,
)
CF_EMAIL_PATH = "/cdn-cgi/l/email-protection"

# One spelling for quotes, dashes, spaces and line breaks; invisible
# formatting and control characters dropped.
FOLD = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58", "-"),
    **dict.fromkeys("\u00a0\t\v\f", " "),
    **dict.fromkeys(("\r\n", "\r", "\u0085", "\u2028", "\u2029"), "\n"),
}
FOLDED = re.compile(
    "\r\n|["
    + "".join(k for k in FOLD if len(k) == 1)
    + "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ud800-\udfff]"
)
INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ud800-\udfff]"
)
SPACES = re.compile(r"[^\S\n]+")
WHITESPACE = re.compile(r"\s+")


def canonical(text: str) -> str:
    """Fold Unicode forms, quotes, dashes and white space into one spelling.

    Lines are stripped, runs of spaces become one, blank lines between
    paragraphs become exactly one, and the text ends with one newline (an
    empty text stays empty). ``canonical(canonical(x)) == canonical(x)``.
    """
    text = _fold(unicodedata.normalize("NFKC", _fold(text)))
    paragraphs: list[str] = []
    blank = False
    for line in text.split("\n"):
        line = SPACES.sub(" ", line).strip()
        if not line:
            blank = bool(paragraphs)
            continue
        if blank:
            paragraphs.append("")
            blank = False
        paragraphs.append(line)
    return "\n".join(paragraphs) + "\n" if paragraphs else ""


def _fold(text: str) -> str:
    return FOLDED.sub(lambda match: FOLD.get(match.group(), ""), text)


def fingerprint(extraction: Extraction, render: str = "http") -> str:
    """A short hash of the settings that turn a page into text, with the
    normalizer release: an identical raw page gives an identical text only
    while this stays the same."""
    settings = repr((RELEASE, render, extraction))
    return hashlib.sha256(settings.encode("utf-8")).hexdigest()[:16]


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

    HTML is reduced to its main content (or what ``extraction.select`` picks,
    minus what ``extraction.remove`` matches); plain text is only
    canonicalised. ``extraction.ignore`` patterns (multi-line regular
    expressions) are removed from the text.
    """
    extraction = extraction or Extraction()
    if "html" in content_type or "xml" in content_type:
        text = canonical(html_text(page, extraction))
    else:
        text = canonical(page)
    if not extraction.ignore:
        return text
    for pattern in extraction.ignore:
        text = re.sub(pattern, "", text, flags=re.MULTILINE)
    return canonical(text)


def html_text(page: str, extraction: Extraction | None = None) -> str:
    """The structured text of an HTML page, before canonicalisation."""
    extraction = extraction or Extraction()
    try:
        page.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (a page decoded with "surrogateescape") cannot be parsed.
        page = page.encode("utf-8", "replace").decode("utf-8")
    roots: list[Element]
    if extraction.select or extraction.remove:
        soup = _soup(page)
        for selector in extraction.remove:
            for tag in _select(soup, selector):
                tag.decompose()
        if extraction.select:
            roots = list(_outermost(_select(soup, ", ".join(extraction.select))))
            writer = _Writer(chrome=False)
        else:
            roots = main_content(soup)
            writer = _Writer(chrome=True)
    else:
        roots = main_content(_document(page))
        writer = _Writer(chrome=True)

    for root in roots:
        writer.content_chars = _text_chars(root)
        # Inside a chosen main part, headers and footers belong to the document.
        writer.in_section = root.name not in ("body", "html", "[document]")
        writer.walk(root, 0)
        writer.flush()
    return writer.text()


def _soup(page: str) -> BeautifulSoup:
    # Classes stay one string: splitting every element's would cost a tenth of
    # the parse, and only the few elements looked at need it.
    return BeautifulSoup(page, "lxml", multi_valued_attributes=None)


def _document(page: str) -> Element:
    """The page's tree: the light tree, or BeautifulSoup's for markup the
    light tree does not build (namespaced names, a page lxml rejects)."""
    try:
        return light_tree(page)
    except Exception:
        # Whatever made lxml or the light tree fail, BeautifulSoup has its own
        # ways (another encoding) to make something of the page: keep them.
        return _soup(page)


class LightText(str):
    """A text string of the light tree (bs4's ``NavigableString``)."""

    __slots__ = ()


class _Hidden(str):
    """A string the text never shows: a comment, a doctype, a processing
    instruction, or text inside a script, style, template or ruby annotation."""

    __slots__ = ()


HIDDEN = _Hidden()


class LightNode:
    """An element of the light tree: the part of bs4's ``Tag`` the writer reads."""

    __slots__ = ("attrs", "contents", "name", "parent")

    def __init__(self, name: str, attrs: dict[str, str], parent: LightNode | None):
        self.name = name
        self.attrs = attrs
        self.contents: list[LightNode | str] = []
        self.parent = parent

    def get(self, key: str) -> str | None:
        return self.attrs.get(key)

    def __getitem__(self, key: str) -> str:
        return self.attrs[key]


class _Unusual(Exception):
    """Markup the light tree leaves to BeautifulSoup (namespaced names)."""


# What BeautifulSoup makes of lxml's parse events, for HTML: whitespace-only
# strings outside these tags shrink to one space or newline ...
PRESERVE_WHITESPACE = frozenset({"pre", "textarea"})
ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"
# ... and strings inside these tags are not text.
STRING_CONTAINERS = frozenset({"rt", "rp", "style", "script", "template"})


class _LightBuilder:
    """An lxml parser target that builds the tree BeautifulSoup's lxml tree
    builder would build from the same events, with light nodes: the same
    elements, attributes and strings in the same places, strings split where
    a comment splits them."""

    def __init__(self) -> None:
        self.root = LightNode("[document]", {}, None)
        self.stack = [self.root]
        self.open: dict[str, int] = {}
        self.parts: list[str] = []
        self.preserve = 0
        self.containers = 0

    def start(
        self, tag: str, attrib: dict[str, str], nsmap: dict[str, str] | None = None
    ) -> None:
        if nsmap or tag[:1] == "{" or any(key[:1] == "{" for key in attrib):
            raise _Unusual(tag)
        self.end_data()
        node = LightNode(tag, dict(attrib), self.stack[-1])
        self.stack[-1].contents.append(node)
        self.stack.append(node)
        self.open[tag] = self.open.get(tag, 0) + 1
        if tag in PRESERVE_WHITESPACE:
            self.preserve += 1
        if tag in STRING_CONTAINERS:
            self.containers += 1

    def end(self, tag: str) -> None:
        if tag[:1] == "{":
            raise _Unusual(tag)
        self.end_data()
        # Like BeautifulSoup: close the innermost open tag of that name and
        # every tag opened inside it; an end tag for no open tag does nothing.
        if not self.open.get(tag):
            return
        while len(self.stack) > 1:
            if self.pop().name == tag:
                return

    def pop(self) -> LightNode:
        node = self.stack.pop()
        self.open[node.name] -= 1
        if node.name in PRESERVE_WHITESPACE:
            self.preserve -= 1
        if node.name in STRING_CONTAINERS:
            self.containers -= 1
        return node

    def data(self, data: str) -> None:
        self.parts.append(data)

    def comment(self, text: str) -> None:
        self.hidden()

    def doctype(self, *_: object) -> None:
        self.hidden()

    def pi(self, *_: object) -> None:
        self.hidden()

    def hidden(self) -> None:
        self.end_data()
        self.stack[-1].contents.append(HIDDEN)

    def end_data(self) -> None:
        if not self.parts:
            return
        text = "".join(self.parts)
        self.parts.clear()
        if not self.preserve and not text.strip(ASCII_SPACES):
            text = "\n" if "\n" in text else " "
        node = _Hidden(text) if self.containers else LightText(text)
        self.stack[-1].contents.append(node)

    def close(self) -> LightNode:
        self.end_data()
        return self.root


def light_tree(page: str) -> LightNode:
    """The page parsed by lxml into a light tree, as BeautifulSoup would
    build it with its lxml tree builder (which feeds lxml the same way)."""
    if page[:1] == "\N{BYTE ORDER MARK}":
        page = page[1:]
    builder = _LightBuilder()
    parser = etree.HTMLParser(target=builder, recover=True, encoding=None)
    parser.feed(page)
    root: LightNode = parser.close()
    return root


Element: TypeAlias = Tag | LightNode
ELEMENT_TYPES = frozenset({Tag, LightNode})
TEXT_TYPES = frozenset({NavigableString, CData, LightText})


def _select(soup: BeautifulSoup, selector: str) -> list[Tag]:
    try:
        return list(soup.select(selector))
    except (soupsieve.SelectorSyntaxError, ValueError) as exc:
        raise CatalogError(f"selector {selector!r} is not valid CSS: {exc}") from exc


def main_content(soup: Element) -> list[Element]:
    """The elements that hold a page's main content, outermost first.

    The ``main`` elements (or ``role=main``) when they hold text; else the
    ``article`` elements (or ``role=article``); else the body.
    """
    mains: list[Element] = []
    articles: list[Element] = []
    body: Element | None = None
    for tag in _elements(soup):
        name = tag.name
        role = tag.attrs.get("role")
        if name == "main" or role == "main":
            mains.append(tag)
        elif name == "article" or role == "article":
            articles.append(tag)
        if name == "body" and body is None:
            body = tag
    for found in (mains, articles):
        roots = [tag for tag in _outermost(found) if _text_chars(tag)]
        if roots:
            return roots
    return [body or soup]


def _outermost(tags: Iterable[Element]) -> list[Element]:
    """Drop the tags nested in another of ``tags``, keeping document order."""
    picked = list(tags)
    chosen = {id(tag) for tag in picked}
    return [t for t in picked if not any(id(p) in chosen for p in _parents(t))]


def _parents(tag: Element) -> Iterator[Element]:
    parent = tag.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _elements(tag: Element) -> Iterator[Element]:
    """The elements inside ``tag``, in document order."""
    stack = [iter(tag.contents)]
    while stack:
        for node in stack[-1]:
            if type(node) in ELEMENT_TYPES:
                yield cast(Element, node)
                stack.append(iter(cast(Element, node).contents))
                break
        else:
            stack.pop()


def _strings(tag: Element) -> Iterator[tuple[str, str]]:
    """The text strings inside ``tag`` (not comments, scripts, styles,
    templates or ruby annotations), each with its parent's name, in
    document order."""
    stack = [(tag.name, iter(tag.contents))]
    while stack:
        name, children = stack[-1]
        for node in children:
            kind = type(node)
            if kind is NavigableString or kind is LightText:
                yield cast(str, node), name
            elif kind in ELEMENT_TYPES:
                element = cast(Element, node)
                stack.append((element.name, iter(element.contents)))
                break
        else:
            stack.pop()


def _text_chars(tag: Element) -> int:
    """How many characters of visible-candidate text ``tag`` holds."""
    return sum(
        len(text.strip()) for text, parent in _strings(tag) if parent not in DROP_TAGS
    )


@dataclass
class _Block:
    """One paragraph, list item, table row or heading."""

    text: str
    heading: bool = False


@dataclass
class _Writer:
    """Walks an element tree and collects its blocks in document order."""

    chrome: bool
    blocks: list[_Block] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    prefix: str = ""
    content_chars: int = 0
    in_section: bool = False
    # What was walked so far: characters of text, of link text, links to
    # other pages, links whose target is kept.
    chars: int = 0
    link_chars: int = 0
    links: int = 0
    targets: int = 0

    def walk(self, node: Element, depth: int) -> None:
        """Render the children of ``node`` into blocks."""
        if depth > MAX_DEPTH:
            # Pathologically deep markup: keep its words, not its structure.
            words = (
                str(text) for text, parent in _strings(node) if parent not in DROP_TAGS
            )
            self.run.append(WHITESPACE.sub(" ", " ".join(words)))
            return
        for child in node.contents:
            kind = type(child)
            if kind in TEXT_TYPES:
                text = WHITESPACE.sub(" ", str(child))
                self.run.append(text)
                self.chars += len(text)
            elif kind in ELEMENT_TYPES:
                self._element(cast(Element, child), depth + 1)

    def _element(self, tag: Element, depth: int) -> None:
        name = tag.name
        if name in DROP_TAGS or self._is_chrome(tag):
            return
        if name == "br":
            self.run.append("\n")
        elif tag.attrs.get("data-cfemail"):
            self.run.append(_cf_email(str(tag["data-cfemail"])))
        elif name in HEADINGS and not _holds(tag, LAYOUT_INSIDE):
            self.flush()
            title = _line(self._flat(tag, depth))
            if title:
                self.blocks.append(_Block(title, heading=True))
        elif name == "tr":
            self._row(tag, depth)
        elif name == "li":
            self.flush()
            self.prefix = "- "
            self.walk(tag, depth)
            self.flush()
            self.prefix = ""
        elif name == "pre":
            self.flush()
            self.blocks.append(_Block(_get_text(tag)))
        elif name == "a" and not _has_block(tag):
            self.run.append(self._link(tag, depth))
        elif _is_block(tag):
            self._block(tag, depth)
        else:
            self.walk(tag, depth)

    def _block(self, tag: Element, depth: int) -> None:
        self.flush()
        mark = len(self.blocks)
        counts = (self.chars, self.link_chars, self.links, self.targets)
        self._section(tag, depth)
        self.flush()
        if (
            self.chrome
            and tag.name not in ("p", "td", "th")
            and self._link_farm(counts)
        ):
            del self.blocks[mark:]

    def _link_farm(self, counts: tuple[int, int, int, int]) -> bool:
        """Whether what was walked since ``counts`` is a list of links to other
        pages (a menu, a footer), most of them links whose target does not
        matter."""
        chars, link_chars, links, targets = counts
        chars, link_chars = self.chars - chars, self.link_chars - link_chars
        return (
            self.links - links >= LINK_FARM_LINKS
            and 2 * (self.targets - targets) < self.links - links
            and link_chars >= LINK_FARM_SHARE * chars
            and chars <= CHROME_GUARD * self.content_chars
        )

    def _section(self, tag: Element, depth: int) -> None:
        if tag.name in SECTIONS and not self.in_section:
            self.in_section = True
            self.walk(tag, depth)
            self.in_section = False
        else:
            self.walk(tag, depth)

    def _is_chrome(self, tag: Element) -> bool:
        """Whether ``tag`` is page chrome to leave out of the text."""
        if not self.chrome:
            return False
        attrs = tag.attrs
        name = tag.name
        signal = (
            name in CHROME_TAGS
            or (name in ("header", "footer") and not self.in_section)
            or (bool(attrs) and _chrome_attrs(attrs))
            or (name == "a" and _is_skip_link(tag))
            or (not self.in_section and bool(attrs) and _site_header(attrs))
        )
        if not signal:
            return False
        # Never drop what holds most of the content, whatever it is marked as.
        return _text_chars(tag) <= CHROME_GUARD * self.content_chars

    def _inner(self) -> _Writer:
        """A writer for a part rendered on its own (a cell, a title, a link)."""
        return _Writer(
            self.chrome, content_chars=self.content_chars, in_section=self.in_section
        )

    def _flat(self, tag: Element, depth: int) -> str:
        """The text of ``tag`` on one line, its blocks joined by spaces."""
        inner = self._inner()
        inner.walk(tag, depth)
        inner.flush()
        return " ".join(block.text for block in inner.blocks)

    def _row(self, row: Element, depth: int) -> None:
        cells = [
            cast(Element, c)
            for c in row.contents
            if type(c) in ELEMENT_TYPES and cast(Element, c).name in CELLS
        ]
        if any(_holds(cell, LAYOUT_INSIDE) for cell in cells):
            # A layout table: its cells hold sections, not values.
            self.flush()
            self.walk(row, depth)
            self.flush()
            return
        texts = [_line(self._flat(cell, depth)) for cell in cells]
        self.flush()
        if any(texts):
            self.blocks.append(_Block("| " + " | ".join(texts) + " |"))

    def _link(self, link: Element, depth: int) -> str:
        inner = self._inner()
        inner.walk(link, depth)
        raw = INVISIBLE.sub("", "".join(inner.run))
        label = _line(raw)
        target = _link_target(link, label) if label else None
        self.chars += len(label)
        self.link_chars += len(label)
        href = link.get("href")
        if isinstance(href, str) and not href.startswith("#"):
            self.links += 1
        if target is None:
            return raw
        self.targets += 1
        before = " " if raw[:1].isspace() else ""
        after = " " if raw[-1:].isspace() else ""
        return f"{before}[{label}]({target}){after}"

    def flush(self) -> None:
        """End the current paragraph, if it holds any text."""
        text = "".join(self.run)
        self.run.clear()
        lines = [" ".join(line.split()) for line in text.split("\n")]
        joined = "\n".join(line for line in lines if line)
        if joined:
            self.blocks.append(_Block(self.prefix + joined))
            self.prefix = ""

    def text(self) -> str:
        """The blocks as text, one ``# `` mark for every heading; the rows of
        a table and the items of a list on consecutive lines."""
        parts: list[str] = []
        previous = ""
        for block in self.blocks:
            text = block.text
            if block.heading or NUMBERED_TITLE.match(text):
                text = "# " + text
            if parts:
                together = text[:2] in ("| ", "- ") and previous[:2] == text[:2]
                parts.append("\n" if together else "\n\n")
            parts.append(text)
            previous = text
        return "".join(parts)


def _chrome_attrs(attrs: Mapping[str, object]) -> bool:
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style")
    if isinstance(style, str) and HIDDEN_STYLE.search(style):
        return True
    if attrs.get("role") in CHROME_ROLES:
        return True
    return any(_chrome_word(word) for word in _names(attrs))


@functools.lru_cache(maxsize=4096)
def _chrome_word(word: str) -> bool:
    # Pages repeat their class names: each is matched once.
    return bool(CHROME_WORD.search(word) or CHROME_VENDOR.search(word))


def _site_header(attrs: Mapping[str, object]) -> bool:
    return any(SITE_HEADER.search(word) for word in _names(attrs))


def _names(attrs: Mapping[str, object]) -> list[str]:
    """The words that name an element: its id, classes, name and label."""
    words: list[str] = []
    for key in ("id", "class"):
        value = attrs.get(key)
        if isinstance(value, str):
            # Utility classes ("md:flex", "[&>li]:p-2") say nothing of the role.
            words.extend(v for v in value.split() if ":" not in v and "[" not in v)
    for key in ("data-framer-name", "aria-label"):
        value = attrs.get(key)
        if isinstance(value, str):
            words.append("-".join(value.split()))
    return words


def _is_skip_link(link: Element) -> bool:
    href = link.get("href")
    return (
        isinstance(href, str)
        and href.startswith("#")
        and bool(SKIP_LINK.match(_get_text(link)))
    )


def _get_text(tag: Element) -> str:
    """The text strings inside ``tag`` joined, as ``Tag.get_text`` gives them
    for any tag the writer reads (CData included)."""
    if isinstance(tag, Tag):
        return tag.get_text()
    return "".join(text for text, _ in _strings(tag))


def _is_block(tag: Element) -> bool:
    if tag.name not in INLINE_TAGS:
        return True
    classes = tag.attrs.get("class")
    if isinstance(classes, str) and not BLOCK_CLASSES.isdisjoint(classes.split()):
        return True
    style = tag.attrs.get("style")
    return isinstance(style, str) and BLOCK_STYLE.search(style) is not None


def _has_block(tag: Element) -> bool:
    return any(node.name not in INLINE_TAGS for node in _elements(tag))


def _holds(tag: Element, names: frozenset[str]) -> bool:
    return any(node.name in names for node in _elements(tag))


def _line(text: str) -> str:
    return " ".join(text.split())


def _link_target(link: Element, label: str) -> str | None:
    """The target to show beside a link's text, or None when the text suffices."""
    href = link.get("href")
    if not isinstance(href, str):
        return None
    href = href.strip()
    if CF_EMAIL_PATH in href and "#" in href:
        href = "mailto:" + _cf_email(href.rsplit("#", 1)[1])
    if not href or href.startswith(("#", "javascript:")):
        return None
    if href.lower().startswith("mailto:"):
        address = href[7:].split("?", 1)[0]
        return None if address.lower() in label.lower() else f"mailto:{address}"
    url = _stable_url(href)
    if KEEP_TARGET.search(url) or KEEP_TARGET.search(label) or VAGUE_LABEL.match(label):
        return url
    return None


def _stable_url(href: str) -> str:
    """A link target without its query, fragment and per-fetch tokens."""
    href = href.split("#", 1)[0].split("?", 1)[0]
    return VOLATILE_TOKEN.sub("*", href)


def _cf_email(encoded: str) -> str:
    """Decode an address hidden by Cloudflare's e-mail obfuscation."""
    try:
        data = bytes.fromhex(encoded.strip())
    except ValueError:
        return ""
    if not data:
        return ""
    key = data[0]
    return bytes(byte ^ key for byte in data[1:]).decode("utf-8", "replace")
