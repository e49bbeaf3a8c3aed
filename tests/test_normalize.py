"""How a page becomes canonical text: structure, chrome, links, settings."""

from __future__ import annotations

from policywatch.catalog import Extraction
from policywatch.normalize import canonical, normalize, text_hash

POLICY = "<p>We keep your data for thirty days and then delete it for good.</p>"


def page(body: str, head: str = "<title>Privacy</title>") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def test_structure_becomes_headings_paragraphs_items_and_rows() -> None:
    """Headings get one ``#`` whatever their level, paragraphs are apart,
    list items start with ``- ``, table rows hold cells between ``|``."""
    html = page(
        "<h1>Privacy Policy</h1><p>Intro <b>text</b>.</p>"
        "<h3>Data</h3><ul><li>Name</li><li>Email <em>address</em></li></ul>"
        "<table><tr><th>Purpose</th><th>Basis</th></tr>"
        "<tr><td><p>Support</p></td><td>Contract</td></tr></table>"
    )
    assert normalize(html) == (
        "# Privacy Policy\n\nIntro text.\n\n# Data\n\n- Name\n- Email address\n\n"
        "| Purpose | Basis |\n| Support | Contract |\n"
    )


def test_a_numbered_title_paragraph_reads_as_the_heading_it_is() -> None:
    """A paragraph that is only a numbered section title gives the same text
    as the same title marked up as a heading; a numbered sentence does not."""
    as_paragraph = normalize(page("<p>3. How we use your information</p>" + POLICY))
    as_heading = normalize(page("<h2>3. How we use your information</h2>" + POLICY))
    assert as_paragraph == as_heading
    assert as_heading.startswith("# 3. How we use")
    assert (
        normalize(page("<p>3. We never sell data.</p>")) == "3. We never sell data.\n"
    )


def test_inline_elements_shown_as_blocks_do_not_glue_words() -> None:
    """Spans a class or style displays as blocks are separate lines, so a
    label and a date do not run together."""
    html = page(
        '<div><span class="f-subhead block">Updated</span>'
        '<span class="block mt-2">June 23, 2023</span></div>'
        '<div><span style="display: block">Effective</span><span>now</span></div>'
    )
    assert normalize(html) == "Updated\n\nJune 23, 2023\n\nEffective\n\nnow\n"


def test_chrome_around_and_inside_the_content_is_left_out() -> None:
    """Navigation, the site header and footer, hidden and screen-reader-only
    text, skip links, forms, buttons, language pickers and cookie banners are
    not part of the text."""
    html = page(
        '<a href="#main" class="x">Skip to main content</a>'
        "<header><a href='/'>Home</a> Site header</header>"
        "<nav><a href='/a'>Products</a></nav>"
        '<div id="onetrust-banner-sdk">We use cookies. <button>Accept</button></div>'
        "<main><h1>Terms</h1>"
        '<span class="sr-only">Terms | Example</span>'
        '<div class="LegalPage_language-options__x">English</div>'
        "<label>Select language <select><option>English</option></select></label>"
        '<p hidden>Hidden note</p><p style="display:none">Also hidden</p>'
        '<div aria-hidden="true">Decorative</div>'
        + POLICY
        + "<form><input name=q><button>Search</button></form></main>"
        "<footer>Copyright footer</footer>"
    )
    assert normalize(html) == (
        "# Terms\n\nWe keep your data for thirty days and then delete it for good.\n"
    )


def test_a_header_inside_the_document_is_kept() -> None:
    """A header inside ``main`` or ``article`` holds the title and dates of
    the document, not the site's chrome."""
    html = page(
        "<header>Site</header><main><article><header><h1>Privacy Policy</h1>"
        "<span>Effective May 1, 2025</span></header>" + POLICY + "</article></main>"
    )
    assert normalize(html).startswith("# Privacy Policy\n\nEffective May 1, 2025\n")


def test_chrome_signals_never_drop_most_of_the_text() -> None:
    """Content inside an aria-hidden wrapper (behind a log-in dialog) is kept
    when it is most of the page's text."""
    html = page(
        '<div role="dialog">Log in to continue</div>'
        '<div aria-hidden="true"><h1>AI Terms</h1>' + POLICY * 3 + "</div>"
    )
    text = normalize(html)
    assert text.startswith("# AI Terms\n")
    assert "Log in" not in text


def test_a_list_of_links_to_other_pages_is_left_out() -> None:
    """A block of nothing but links to other pages (a footer menu) is left
    out; a list of opt-out links is kept with its targets."""
    menu = "".join(f'<a href="/p{i}">Page {i}</a>' for i in range(6))
    opt_outs = "".join(
        f'<li><a href="https://ads{i}.example/opt-out">Network {i}</a></li>'
        for i in range(5)
    )
    text = normalize(page(f"<main>{POLICY}<ul>{opt_outs}</ul><div>{menu}</div></main>"))
    assert "Page 1" not in text
    assert "- [Network 1](https://ads1.example/opt-out)" in text


def test_link_targets_are_kept_where_they_matter_and_made_stable() -> None:
    """An opt-out or settings link keeps its target, without query, fragment
    or per-fetch tokens; an ordinary link keeps only its text; an e-mail link
    shows the address when its text does not."""
    html = page(
        "<p>You can <a href='https://example.com/privacy/opt-out?utm_source=x#top'>"
        "opt out</a> or read <a href='/blog/post'>our blog</a>. Change your "
        "<a href='https://app.example/redirect/v1.6f1c2a9e-1b7d-4c1e-9f0a-2b3c4d5e6f70"
        "/settings'>settings</a> or <a href='mailto:dpo@example.com?subject=Hi'>"
        "write to us</a> at <a href='mailto:dpo@example.com'>dpo@example.com</a>.</p>"
    )
    assert normalize(html) == (
        "You can [opt out](https://example.com/privacy/opt-out) or read our blog. "
        "Change your [settings](https://app.example/redirect/v1.*/settings) or "
        "[write to us](mailto:dpo@example.com) at dpo@example.com.\n"
    )


def test_cloudflare_hidden_email_addresses_are_decoded() -> None:
    """An address Cloudflare hides behind ``data-cfemail`` reads as the
    address itself, so the text does not change when the hiding stops."""
    key = 0x42
    encoded = f"{key:02x}" + "".join(f"{b ^ key:02x}" for b in b"privacy@x.ai")
    hidden = page(
        f'<p>Write to <a href="/cdn-cgi/l/email-protection#{encoded}">'
        f'<span class="__cf_email__" data-cfemail="{encoded}">[email&#160;protected]'
        "</span></a>.</p>"
    )
    plain = page('<p>Write to <a href="mailto:privacy@x.ai">privacy@x.ai</a>.</p>')
    assert normalize(hidden) == normalize(plain) == "Write to privacy@x.ai.\n"


def test_select_remove_and_ignore_settings_override_the_defaults() -> None:
    """``select`` picks the content (chrome rules off), ``remove`` drops
    elements, ``ignore`` removes volatile text."""
    html = page(
        "<nav>Menu</nav><div class='policy'><nav>In-policy index</nav>"
        "<p>Generated at 12:30:01 for you.</p><p class='ad'>Advert</p>"
        + POLICY
        + "</div><p>Outside</p>"
    )
    extraction = Extraction(
        select=(".policy",), remove=(".ad",), ignore=(r"Generated at [\d:]+ ",)
    )
    assert normalize(html, extraction=extraction) == (
        "In-policy index\n\nfor you.\n\n"
        "We keep your data for thirty days and then delete it for good.\n"
    )
    assert normalize(html, extraction=Extraction(select=(".missing",))) == ""


def test_plain_text_is_only_made_canonical() -> None:
    """A text/plain page keeps its words and lines; only spelling is folded."""
    assert normalize("Line “one”\r\nline two\n\n\n", content_type="text/plain") == (
        'Line "one"\nline two\n'
    )


def test_canonical_folds_forms_quotes_dashes_and_white_space() -> None:
    """Compatibility forms, typographic quotes and dashes, odd spaces,
    invisible characters and blank-line runs get one spelling."""
    text = "ﬁle ‘a’ — “b”\u00a0c\u200b\td\r\n\n\n\n  e  \u2028f"
    assert canonical(text) == "file 'a' - \"b\" c d\n\ne\nf\n"
    assert canonical("") == ""
    assert canonical(" \n\n ") == ""


def test_the_same_text_always_has_the_same_hash() -> None:
    """The hash is the SHA-256 of the text's UTF-8 bytes."""
    assert text_hash("a\n") == text_hash("a\n")
    assert text_hash("a\n") != text_hash("b\n")
    assert len(text_hash("")) == 64


def test_deep_or_empty_markup_gives_text_without_failing() -> None:
    """Pathologically nested markup keeps its words; an empty page gives no
    text."""
    assert normalize("<div>" * 5000 + "deep words" + "</div>" * 5000) == "deep words\n"
    assert normalize("") == ""
    assert normalize("<html><head></head><body></body></html>") == ""
