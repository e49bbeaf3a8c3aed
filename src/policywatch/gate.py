"""Decides whether a fetched page is the policy at all.

A page that fails the gate (a bot challenge, a login wall, an error page
served with status 200, an empty or script-only shell, a text that collapsed)
is a failed check with a reason, never a new version. Pure: no I/O.

Markers are only trusted on short pages: a long policy that happens to embed
a captcha widget or a "sign in" link is still the policy.
"""

from __future__ import annotations

import re

from policywatch.errors import GateError

MIN_TEXT_CHARS = 200
# Markers of a challenge, login wall or error page count only below this.
SHORT_TEXT_CHARS = MIN_TEXT_CHARS * 4
# A new text shorter than this share of the latest version's is suspicious.
COLLAPSE_RATIO = 0.35
CHALLENGE_MARKERS = re.compile(
    r"cf-browser-verification|cf-challenge|challenge-platform|__cf_chl_"
    r"|cf-turnstile|g-recaptcha|h-captcha|hcaptcha\.com|captcha-delivery"
    r"|px-captcha|_incapsula_resource|incapsula incident id|awswaf|aws-waf-token"
    r"|<title>\s*just a moment\.\.\.\s*</title>|pardon our interruption"
    r"|verify you are (?:a )?human|checking your browser|are you a robot"
    r"|enable javascript and cookies to continue|attention required!? \| cloudflare"
    r"|you don't have permission to access .{1,200} on this server",
    re.I,
)
LOGIN_MARKERS = re.compile(
    r"(?:please |you must |you need to )?(?:log|sign) ?in to "
    r"(?:continue|view|access|see|read)|session (?:has )?expired",
    re.I,
)
ERROR_MARKERS = re.compile(
    r"^\W*(?:error\s*)?(?:404|410|500|502|503)\b|page not found"
    r"|page (?:does not|doesn't) exist|service (?:temporarily )?unavailable"
    r"|internal server error"
    r"|something went wrong|we(?:'re| are) down for maintenance",
    re.I,
)
CLIENT_REDIRECT = re.compile(
    r"<meta[^>]+http-equiv=[\"']?refresh[^>]+url\s*=\s*[\"']?([^\"'>\s]+)"
    r"|^\W*redirecting(?: you)? to\b\W*(\S*)",
    re.I | re.M,
)
SCRIPT_MARKERS = re.compile(
    r"<script\b|<noscript\b|id=[\"'](?:root|app|__next|__nuxt)[\"']", re.I
)


def challenge_marker(raw: str) -> str | None:
    """The first bot-challenge or captcha marker in ``raw``, or None."""
    match = CHALLENGE_MARKERS.search(raw)
    return match[0][:60] if match else None


def check_page(
    raw: str,
    text: str,
    *,
    latest_text: str | None = None,
    rendered: bool = False,
    select: tuple[str, ...] = (),
) -> None:
    """Raise :class:`GateError` when the page is not the policy.

    ``raw`` is the page as fetched, ``text`` its normalized text and
    ``latest_text`` the text of the latest recorded version, if any.
    ``rendered`` says the page is a DOM after its scripts ran in a browser;
    ``select`` the source's selectors, named when they matched nothing.
    """
    short = len(text) < SHORT_TEXT_CHARS
    if short:
        _check_short(raw, text)
    if len(text.strip()) < MIN_TEXT_CHARS:
        _check_thin(raw, text, rendered=rendered, select=select)
    if latest_text and len(text) < COLLAPSE_RATIO * len(latest_text):
        raise GateError(
            f"the text shrank from {len(latest_text)} to {len(text)} characters "
            "since the latest version; if the page really is this short now, "
            "its latest version must be replaced by hand",
            reason="collapsed",
        )


def _check_short(raw: str, text: str) -> None:
    """Challenges, login walls and error pages: short pages with a marker."""
    if marker := challenge_marker(raw):
        raise GateError(
            f"the page is a bot challenge or captcha ({marker!r})", reason="challenge"
        )
    if match := LOGIN_MARKERS.search(text):
        raise GateError(f"the page asks to log in ({match[0]!r})", reason="login-wall")
    if match := ERROR_MARKERS.search(text[:300]):
        raise GateError(
            f"the page is an error page served as a success ({match[0].strip()!r})",
            reason="error-page",
        )


def _check_thin(
    raw: str, text: str, *, rendered: bool = False, select: tuple[str, ...] = ()
) -> None:
    """Empty and near-empty texts, telling a script-only shell apart."""
    chars = len(text.strip())
    if match := CLIENT_REDIRECT.search(raw) or CLIENT_REDIRECT.search(text):
        target = (match[1] or match[2] or "another page").rstrip(".")
        raise GateError(
            f"the page only redirects (by script or meta refresh) to {target}; "
            "point the catalog at the page it leads to",
            reason="client-redirect",
        )
    scripted = not rendered and SCRIPT_MARKERS.search(raw) is not None
    if select and not chars and raw.strip():
        hint = ' or it is built by scripts (try render = "browser")' if scripted else ""
        raise GateError(
            f"the source's select selectors ({', '.join(select)}) match nothing "
            f"on the page: its layout may have changed{hint}",
            reason="selector-empty",
        )
    if scripted:
        raise GateError(
            f"the page has {chars} characters of text until scripts run; "
            'it probably needs render = "browser"',
            reason="script-shell",
        )
    if not chars:
        reason = "empty" if not raw.strip() else "no-text"
        after = " even after its scripts ran" if rendered else ""
        raise GateError(f"the page has no text{after}", reason=reason)
    raise GateError(
        f"the page has only {chars} characters of text", reason="near-empty"
    )
