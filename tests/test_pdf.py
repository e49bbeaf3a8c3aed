"""PDF policies: text extraction with pypdf, and the whole check of a PDF
source served on 127.0.0.1, through new, changed (with diff and triage) and
unchanged."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from pypdf import PdfWriter

from policywatch import pdf
from policywatch.diff import Diff
from policywatch.errors import GateError
from policywatch.normalize import canonical
from policywatch.store import Store
from tests.conftest import Workspace
from tests.server import PageServer

PDFS = Path(__file__).parent / "data" / "pdf"
OLD, NEW = "2024-12-17T12-31-23Z", "2024-12-18T00-31-23Z"
PDF_HEADERS = {"Content-Type": "application/pdf"}


def pdf_bytes(capture: str) -> bytes:
    return (PDFS / f"{capture}.pdf").read_bytes()


def written_text(capture: str) -> str:
    """The paragraphs make_pdfs.py wrote into the PDF, canonical."""
    return canonical((PDFS / f"{capture}.txt").read_text(encoding="utf-8"))


@pytest.mark.parametrize("capture", [OLD, NEW])
def test_extracted_text_is_the_text_written(capture: str) -> None:
    """Extracting a multi-page PDF gives back exactly the paragraphs laid out
    in it: wrapped lines joined, paragraphs and list items kept apart, a
    paragraph running over a page break joined, page footers dropped."""
    text = canonical(pdf.extract_text(pdf_bytes(capture)))

    assert text == written_text(capture)
    assert "Page 1 of" not in text


def test_reflow_without_gaps_between_paragraphs() -> None:
    """When the layout leaves no blank line between paragraphs, lines are
    joined by the shape of the text: wrapped lines go on, a list item or a
    line after a sentence's end starts a new paragraph."""
    pages = [
        "Our Policy\n"
        "We collect the data you give us when you use the services, and we\n"
        "keep it for as long as your account is open.\n"
        "1. Account data, such as your name and e-mail address.\n"
        "2. Content you submit, such as prompts and files that you upload to\n"
        "the services.\n"
        "You can ask us to delete your data at any time by writing to us at the\n",
        "address below, and we answer within thirty days of your request.\n"
        "Page 2 of 2\n",
    ]

    assert pdf.reflow(pages).split("\n\n") == [
        "Our Policy",
        "We collect the data you give us when you use the services, and we "
        "keep it for as long as your account is open.",
        "1. Account data, such as your name and e-mail address.",
        "2. Content you submit, such as prompts and files that you upload to "
        "the services.",
        "You can ask us to delete your data at any time by writing to us at the "
        "address below, and we answer within thirty days of your request.",
    ]


def test_pdf_without_text_layer_fails_the_gate() -> None:
    """A PDF of blank (or scanned) pages is a gate failure saying it has no
    text layer, never an empty version."""
    writer = PdfWriter()
    writer.add_blank_page(width=420, height=595)
    writer.add_blank_page(width=420, height=595)
    buffer = io.BytesIO()
    writer.write(buffer)

    with pytest.raises(GateError, match="no text layer in its 2 pages") as caught:
        pdf.extract_text(buffer.getvalue())
    assert caught.value.reason == "pdf-no-text"


def test_damaged_pdf_fails_with_a_reason() -> None:
    """Bytes that are not a readable PDF give a gate failure, not a crash."""
    damaged = pdf_bytes(OLD)[:400]

    with pytest.raises(GateError, match="cannot be read") as caught:
        pdf.extract_text(damaged)
    assert caught.value.reason == "pdf-unreadable"


def test_without_pypdf_the_failure_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With pypdf not importable, reading a PDF fails naming the extra."""
    monkeypatch.setitem(sys.modules, "pypdf", None)

    with pytest.raises(GateError, match=r"pip install 'policywatch\[pdf\]'") as caught:
        pdf.extract_text(pdf_bytes(OLD))
    assert caught.value.reason == "pdf-support-missing"


def catalog(server: PageServer) -> str:
    return f"""
[settings]
host_delay = "0s"

[[vendors]]
id = "google-gemini"
name = "Google Gemini"

[[vendors.claims]]
id = "must-not-use"
text = "The policy lists what users must not use the services for."
sources = ["prohibited-use"]
evidence = ["must not use the Google services that reference this policy"]

[[vendors.sources]]
id = "prohibited-use"
url = "{server.url("/gemini/prohibited-use.pdf")}"
kind = "usage-policy"
"""


def outcome(run_stdout: str) -> dict[str, object]:
    results = json.loads(run_stdout)["results"]
    assert len(results) == 1
    return dict(results[0])


def test_pdf_source_is_recorded_diffed_and_triaged(
    server: PageServer, workspace: Workspace
) -> None:
    """A PDF policy is checked like a page: the first check records its
    extracted text; when the PDF is replaced by a later capture, one change
    is recorded whose diff shows the removed and added words and whose triage
    flags the claim whose evidence went away; the raw PDF is kept as the
    snapshot; a third check is unchanged."""
    url_path = "/gemini/prohibited-use.pdf"
    server.serve(url_path, pdf_bytes(OLD), headers=PDF_HEADERS)
    workspace.write_catalog(catalog(server))

    first = workspace.run("check", "--json")
    assert first.returncode == 0, first.stderr
    assert outcome(first.stdout)["outcome"] == "new"
    store = Store(workspace.db_url, create=False)
    try:
        versions = store.versions("google-gemini/prohibited-use")
        assert [v.text for v in versions] == [written_text(OLD)]
    finally:
        store.close()

    server.serve(url_path, pdf_bytes(NEW), headers=PDF_HEADERS)
    second = workspace.run("check", "--json")
    assert second.returncode == 1, second.stderr
    result = outcome(second.stdout)
    assert result["outcome"] == "changed"
    assert result["severity"] == "verdict-at-risk"
    assert result["claims_at_risk"] == ["must-not-use"]

    store = Store(workspace.db_url, create=False)
    try:
        assert isinstance(result["change"], int)
        diff = Diff.from_json(store.change(result["change"]).diff)
        latest = store.latest("google-gemini/prohibited-use")
        assert latest is not None and latest.snapshot_id is not None
        raw, content_type = store.snapshot(latest.snapshot_id)
    finally:
        store.close()
    removed = " ".join(p.removed for p in diff.passages)
    added = " ".join(p.added for p in diff.passages)
    assert "14 March 2023" in removed and "14 March 2023" not in added
    assert "17 December 2024" in added
    assert "Facilitates non-consensual intimate imagery." in added
    assert latest.text == written_text(NEW)
    assert (raw, content_type) == (pdf_bytes(NEW), "application/pdf")

    third = workspace.run("check", "--json")
    assert third.returncode == 0, third.stderr
    assert outcome(third.stdout)["outcome"] == "unchanged"
