"""The light tree the normalizer builds from lxml's parse events gives, for any
page, the same text as BeautifulSoup's tree built from the same parse."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policywatch import normalize as normalize_module
from policywatch.catalog import Extraction
from policywatch.normalize import LightNode, normalize

CORPUS = Path(__file__).parent / "data" / "corpus"
PAGES = sorted(CORPUS.glob("*/*/*.html"))

# Markup where BeautifulSoup's tree differs from a plain lxml tree: strings
# split by comments, whitespace-only strings, text BeautifulSoup does not
# count as text (scripts, styles, templates, ruby annotations), stray and
# unclosed tags, chrome signals and link targets the writer weighs.
TRICKY = [
    "<p>a<!-- split -->b</p>",
    "<pre>  keep\n\n   spaces  <!--x-->  </pre>",
    "<textarea>  x  </textarea>",
    '<a href="/page">see<script>var x = 1;</script> more</a>',
    "<ruby>text<rt>annotation</rt><rp>(</rp></ruby>",
    "<template><main><p>hidden</p></main></template>",
    "</div></p>stray",
    "<div><p>unclosed<li>item",
    "<table><tr><td>a<td>b</table>",
    '<nav class="menu"><a href="/a">A</a> <a href="/b">B</a></nav>',
    '<a href="/privacy-settings">here</a>',
    '<a href="#main">Skip to content</a>',
    '<div style="display:none">hidden words</div>',
    '<div role="navigation"><a href="/x">x</a></div>',
    "<main><p>one</p></main>",
    '<article role="article"><h2>Title</h2><p>Body text.</p></article>',
    "<header>Site header</header><footer>Site footer</footer>",
    "<h1>A <table><tr><td>layout</td></tr></table></h1>",
    "\n   \n",
    " \t ",
    "<br>",
    "<!DOCTYPE html>",
    "<?pi data?>",
    "<![CDATA[ data ]]>",
    "<svg><text>drawn</text></svg>",
    "<x-card>custom element</x-card>",
    "<foo:bar>prefixed</foo:bar>",
    '<span data-cfemail="0f6e4f6d">[email]</span>',
    "1. Scope of these terms",
    "words &amp; entities &nbsp;",
    "\u00a0\u2019\u200b",
]


def bs4_text(page: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The text with the light tree switched off (BeautifulSoup's tree)."""
    with monkeypatch.context() as patch:
        patch.setattr(normalize_module, "light_tree", refuse)
        return normalize(page)


def refuse(page: str) -> LightNode:
    raise ValueError("light tree switched off")


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_pages_give_the_same_text_from_either_tree(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every real page gives the same text from the light tree as from
    BeautifulSoup's tree."""
    page = path.read_text(encoding="utf-8")

    assert normalize(page) == bs4_text(page, monkeypatch)


@pytest.mark.parametrize("fragment", TRICKY)
def test_tricky_markup_gives_the_same_text_from_either_tree(
    fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each construct where BeautifulSoup's tree building has its own rules
    gives the same text from the light tree, alone and inside a page."""
    for page in (fragment, f"<html><body><p>Before.</p>{fragment}<p>After.</p>"):
        assert normalize(page) == bs4_text(page, monkeypatch)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=12))
def test_generated_pages_give_the_same_text_from_either_tree(
    fragments: list[str],
) -> None:
    """Any mix and nesting of the tricky constructs gives the same text from
    the light tree as from BeautifulSoup's tree."""
    page = "".join(fragments)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(normalize_module, "light_tree", refuse)
        expected = normalize(page)

    assert normalize(page) == expected


def test_light_tree_is_what_a_page_without_selectors_is_read_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without selectors the light tree is used; with a ``select`` or a
    ``remove`` setting, BeautifulSoup's tree (for soupsieve's CSS)."""
    built: list[LightNode] = []
    light_tree = normalize_module.light_tree

    def counting(page: str) -> LightNode:
        built.append(light_tree(page))
        return built[-1]

    monkeypatch.setattr(normalize_module, "light_tree", counting)
    page = "<main><p>Policy text.</p><p class='x'>Drop me.</p></main>"

    assert normalize(page) == "Policy text.\n\nDrop me.\n"
    assert len(built) == 1
    assert normalize(page, extraction=Extraction(remove=(".x",))) == "Policy text.\n"
    assert normalize(page, extraction=Extraction(select=("p.x",))) == "Drop me.\n"
    assert len(built) == 1


def test_page_the_light_tree_cannot_build_still_gives_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the light tree fails, BeautifulSoup's tree gives the page's text."""
    monkeypatch.setattr(normalize_module, "light_tree", refuse)

    assert normalize("<main><p>Still here.</p></main>") == "Still here.\n"
