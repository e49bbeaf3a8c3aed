"""Decides whether a fetched page is the policy at all.

A page that fails the gate (a bot challenge, a login wall, an empty shell, a
text that collapsed) is a failed check with a reason, never a new version.
Pure: no I/O.
"""

from __future__ import annotations

import re

from policywatch.errors import GateError

MIN_TEXT_CHARS = 200
# A new text shorter than this share of the latest version's is suspicious.
COLLAPSE_RATIO = 0.35
CHALLENGE_MARKERS = re.compile(
    r"cf-browser-verification|cf-challenge|challenge-platform|__cf_chl_"
    r"|g-recaptcha|h-captcha|hcaptcha\.com|captcha-delivery|px-captcha"
    r"|verify you are (?:a )?human|checking your browser|are you a robot"
    r"|enable javascript and cookies to continue|attention required!? \| cloudflare",
    re.I,
)
LOGIN_MARKERS = re.compile(
    r"(?:please |you must )?(?:log|sign) ?in to (?:continue|view|access)", re.I
)


def check_page(
    raw: str, text: str, *, latest_text: str | None = None, rendered: bool = False
) -> None:
    """Raise :class:`GateError` when the page is not the policy.

    ``raw`` is the page as fetched, ``text`` its normalized text and
    ``latest_text`` the text of the latest recorded version, if any.
    ``rendered`` says the page is a DOM after its scripts ran in a browser.
    """
    short = len(text) < MIN_TEXT_CHARS * 4
    if short and CHALLENGE_MARKERS.search(raw):
        raise GateError("the page is a bot challenge or captcha", reason="challenge")
    if short and LOGIN_MARKERS.search(text):
        raise GateError("the page asks to log in", reason="login-wall")
    if len(text) < MIN_TEXT_CHARS and not rendered and "<script" in raw.lower():
        raise GateError(
            f"the page has {len(text)} characters of text until scripts run; "
            'it probably needs render = "browser"',
            reason="script-shell",
        )
    if not text.strip():
        after = " even after its scripts ran" if rendered else ""
        raise GateError(f"the page has no text{after}", reason="empty")
    if len(text) < MIN_TEXT_CHARS:
        raise GateError(
            f"the page has only {len(text)} characters of text", reason="near-empty"
        )
    if latest_text and len(text) < COLLAPSE_RATIO * len(latest_text):
        raise GateError(
            f"the text shrank from {len(latest_text)} to {len(text)} characters",
            reason="collapsed",
        )
