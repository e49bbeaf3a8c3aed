"""The gate: real policy pages pass; challenges, login walls, error pages,
empty and script-only shells, and collapsed texts fail with their reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from policywatch.catalog import Extraction
from policywatch.errors import GateError
from policywatch.gate import COLLAPSE_RATIO, challenge_marker, check_page
from policywatch.normalize import normalize
from tests.conftest import CORPUS

# Real captures whose text Open Terms Archive extracted: real policies (one
# capture whose text is only "Redirecting to ..." is tested on its own).
POLICIES = sorted(
    p
    for p in CORPUS.glob("*/*/*.html")
    if p.with_suffix(".md").exists() and p.with_suffix(".md").stat().st_size > 200
)
POLICY_TEXT = "We collect the information you give us when you use the service. " * 20


def gate(raw: str, *, latest_text: str | None = None) -> None:
    check_page(raw, normalize(raw, extraction=Extraction()), latest_text=latest_text)


def reason(raw: str, *, latest_text: str | None = None) -> str:
    with pytest.raises(GateError) as caught:
        gate(raw, latest_text=latest_text)
    return caught.value.reason


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_real_policies_pass(path: Path) -> None:
    """No real policy page of the corpus, with its extracted text, is taken
    for a block, an error page or a shell."""
    raw = path.read_text(encoding="utf-8")
    text = path.with_suffix(".md").read_text(encoding="utf-8")

    check_page(raw, text)


def test_real_script_redirect_capture_fails() -> None:
    """Mistral's privacy page captured as a script redirect ("Redirecting to
    legal.mistral.ai") names where it leads."""
    path = CORPUS / "mistral-le-chat/privacy-policy/2025-12-15T11-34-52Z.html"

    with pytest.raises(GateError) as caught:
        gate(path.read_text(encoding="utf-8"))

    assert caught.value.reason == "client-redirect"
    assert "legal.mistral.ai" in str(caught.value)


def test_meta_refresh_names_its_target() -> None:
    """A page that only holds a meta refresh names the URL it leads to."""
    raw = '<html><head><meta http-equiv="refresh" content="0; url=/new"></head></html>'

    assert reason(raw) == "client-redirect"


def test_real_error_page_served_as_a_capture_fails() -> None:
    """xAI's privacy page captured as a Next.js "500: Internal Server Error"
    page is an error page, not a policy."""
    raw = (CORPUS / "xai-grok/privacy-policy/2024-09-16T06-33-13Z.html").read_text()

    assert reason(raw) == "error-page"


def test_real_blank_capture_fails() -> None:
    """Microsoft's terms captured as an empty document have no text."""
    raw = (
        CORPUS / "microsoft-copilot/terms-of-use/2025-01-27T12-31-46Z.html"
    ).read_text()

    assert reason(raw) == "no-text"


def test_empty_body_is_empty() -> None:
    """A body of nothing at all is reported as empty."""
    assert reason("") == "empty"


@pytest.mark.parametrize(
    "raw",
    [
        "<title>Just a moment...</title><body>Checking your browser</body>",
        '<html><body><div class="g-recaptcha" data-sitekey="x"></div></body></html>',
        "<html><body><h1>Pardon Our Interruption</h1><p>As you were browsing "
        "something about your browser made us think you were a bot.</p></body></html>",
        "<html><body><h1>Access Denied</h1>You don't have permission to access "
        '"http://example.com/privacy" on this server.<p>Reference #18.1</p></html>',
    ],
    ids=["cloudflare", "recaptcha", "imperva", "akamai"],
)
def test_challenges_fail(raw: str) -> None:
    """Bot challenges and captchas are recognised by their markers."""
    assert reason(raw) == "challenge"


def test_captcha_widget_on_a_long_policy_passes() -> None:
    """A real policy embedding a captcha form is still the policy."""
    raw = f'<html><body><p>{POLICY_TEXT}</p><div class="g-recaptcha"></div></body>'

    gate(raw)


def test_login_wall_fails() -> None:
    """A short page asking to sign in is a login wall."""
    raw = "<html><body><p>You must log in to view this page.</p></body></html>"

    assert reason(raw) == "login-wall"


def test_script_shell_says_it_needs_a_browser() -> None:
    """A page with no text until scripts run names the remedy."""
    raw = '<html><body><div id="app"></div><script src="/main.js"></script></body>'

    with pytest.raises(GateError) as caught:
        gate(raw)

    assert caught.value.reason == "script-shell"
    assert 'render = "browser"' in str(caught.value)


def test_near_empty_page_fails() -> None:
    """A few words of text, with no scripts, are near-empty."""
    assert reason("<html><body><p>Coming soon.</p></body></html>") == "near-empty"


def test_collapsed_text_fails_and_small_shrink_passes() -> None:
    """Shrinking below COLLAPSE_RATIO of the latest text fails; a page that
    lost a third of its text is still accepted."""
    latest = POLICY_TEXT * 3
    kept = normalize(f"<p>{POLICY_TEXT * 2}</p>", extraction=Extraction())
    collapsed = POLICY_TEXT[: int(len(latest) * COLLAPSE_RATIO) - 10]

    check_page(f"<p>{POLICY_TEXT * 2}</p>", kept, latest_text=latest)
    with pytest.raises(GateError) as caught:
        check_page(f"<p>{collapsed}</p>", collapsed, latest_text=latest)

    assert caught.value.reason == "collapsed"
    assert f"from {len(latest)} to {len(collapsed)}" in str(caught.value)


def test_challenge_marker_names_what_it_found() -> None:
    """The marker found is returned for the failure message; none is None."""
    assert challenge_marker('<div class="cf-turnstile">') == "cf-turnstile"
    assert challenge_marker("<p>Our privacy policy</p>") is None
