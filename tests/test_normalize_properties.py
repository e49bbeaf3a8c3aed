"""Properties of normalization over generated pages: determinism, idempotence,
and markup-only edits that never change the hash."""

from __future__ import annotations

import html
import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from policywatch.normalize import canonical, normalize, text_hash

WORD = st.text(
    alphabet=st.characters(
        whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="'\".,;:()&<>€é"
    ),
    min_size=1,
    max_size=10,
)
SENTENCE = st.lists(WORD, min_size=3, max_size=12).map(" ".join)
BLOCK = st.one_of(
    st.tuples(st.just("h"), SENTENCE),
    st.tuples(st.just("p"), SENTENCE),
    st.tuples(st.just("ul"), st.lists(SENTENCE, min_size=1, max_size=4)),
    st.tuples(
        st.just("table"),
        st.lists(st.lists(WORD, min_size=2, max_size=2), min_size=1, max_size=3),
    ),
)
DOCUMENT = st.lists(BLOCK, min_size=4, max_size=10)
BANNER = (
    '<div id="onetrust-banner-sdk" class="otFlat"><p>We use cookies to improve '
    'your experience.</p><a href="/cookies">Cookie settings</a>'
    "<button>Accept all</button></div>"
)


@dataclass(frozen=True)
class Markup:
    """How a document is marked up: everything that is not its words."""

    seed: int
    wrappers: int
    spacing: str
    script: str
    banner: bool
    main: bool


MARKUP = st.builds(
    Markup,
    seed=st.integers(0, 2**32),
    wrappers=st.integers(0, 3),
    spacing=st.sampled_from(["", "\n", "\n    ", "  \t", "\r\n  "]),
    script=st.text(max_size=40).filter(lambda s: "<" not in s),
    banner=st.booleans(),
    main=st.booleans(),
)


def render(document: list[tuple[str, object]], markup: Markup) -> str:
    """The document as a page, marked up as ``markup`` says."""
    rng = random.Random(markup.seed)
    gap = markup.spacing

    def tag(name: str, inner: str) -> str:
        attributes = [
            f'class="c{rng.randrange(10**6)} x{rng.randrange(99)}"',
            f'data-id="{rng.randrange(10**9)}"',
            f'id="n{rng.randrange(10**9)}"',
        ]
        rng.shuffle(attributes)
        attrs = " ".join(attributes[: rng.randrange(4)])
        opened = f"<{name} {attrs}>" if attrs else f"<{name}>"
        return f"{opened}{gap}{inner}{gap}</{name}>"

    def wrap(inner: str) -> str:
        for _ in range(rng.randrange(markup.wrappers + 1)):
            inner = tag("div", inner)
        return inner

    def words(text: str) -> str:
        return " ".join(
            tag("span", html.escape(w)) if rng.random() < 0.2 else html.escape(w)
            for w in text.split(" ")
        )

    blocks = []
    for kind, content in document:
        if kind == "ul":
            assert isinstance(content, list)
            inner = gap.join(tag("li", words(item)) for item in content)
            blocks.append(wrap(tag("ul", inner)))
        elif kind == "table":
            assert isinstance(content, list)
            rows = gap.join(
                tag("tr", "".join(tag("td", words(cell)) for cell in row))
                for row in content
            )
            blocks.append(wrap(tag("table", tag("tbody", rows))))
        else:
            assert isinstance(content, str)
            blocks.append(wrap(tag("h2" if kind == "h" else "p", words(content))))
    body = gap.join(blocks)
    if markup.main:
        body = tag("main", body)
    if markup.banner:
        body = BANNER + gap + body
    script = f"<script>var t = {markup.script!r};</script>"
    return f"<html><head>{script}</head><body>{gap}{body}{gap}{script}</body></html>"


def opening(document: list[tuple[str, object]]) -> str:
    """The first words of a document, whatever its first block is."""
    content = document[0][1]
    while isinstance(content, list):
        content = content[0]
    return str(content)


@settings(max_examples=60, deadline=None)
@given(DOCUMENT, MARKUP, MARKUP)
def test_markup_only_edits_never_change_the_hash(
    document: list[tuple[str, object]], one: Markup, other: Markup
) -> None:
    """Attribute order and values, class names, wrapper elements, white
    space, script contents, a ``main`` element and a cookie banner change
    nothing in the text or its hash."""
    first = normalize(render(document, one))
    second = normalize(render(document, other))
    assert first == second
    assert canonical(opening(document)).strip() in first
    assert text_hash(first) == text_hash(second)


@settings(max_examples=60, deadline=None)
@given(DOCUMENT, MARKUP)
def test_normalizing_is_deterministic_and_idempotent(
    document: list[tuple[str, object]], markup: Markup
) -> None:
    """The same page gives the same text twice; normalizing the text again as
    plain text gives it back unchanged."""
    page = render(document, markup)
    text = normalize(page)
    assert normalize(page) == text
    assert normalize(text, content_type="text/plain") == text
    assert canonical(text) == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_canonical_is_idempotent_on_any_text(text: str) -> None:
    """canonical(canonical(x)) == canonical(x) for any string, and its result
    always has a hash."""
    once = canonical(text)
    assert canonical(once) == once
    assert len(text_hash(once)) == 64


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=200))
def test_any_markup_string_normalizes_idempotently(page: str) -> None:
    """Whatever string arrives as a page, its text is canonical and survives
    being normalized again as plain text."""
    text = normalize(page)
    assert canonical(text) == text
    assert normalize(text, content_type="text/plain") == text
