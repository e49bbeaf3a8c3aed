"""Re-derives each source's latest text from its stored raw page with the
current normalizer, recording the differences as technical changes.

When the normalizer's :data:`~policywatch.normalize.RELEASE` changes, the text
it makes of the same page may change too. That is no change of the policy, so
it is recorded as a technical version and change (state ``technical``), kept
apart from real ones and never flagged for review; the next check then
compares fetched pages with a text made the same way. Nothing is fetched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from policywatch import fetch, gate, pdf
from policywatch.catalog import Source
from policywatch.diff import make_diff
from policywatch.errors import GateError, PolicywatchError
from policywatch.normalize import RELEASE, fingerprint, normalize, text_hash
from policywatch.snapshots import write_snapshot
from policywatch.store import Attempt, NewVersion, Store, StoredVersion

log = logging.getLogger(__name__)

OUTCOME = "renormalized"
MAX_CONFLICTS = 5
CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


@dataclass
class Renormalized:
    """What re-deriving one source's latest text came to.

    ``outcome`` is "renormalized" (a technical version was recorded),
    "unchanged" (the current normalizer gives the same text), "no-version",
    "no-snapshot" (the version has no stored raw page) or "failed" (the new
    text failed the gate, or the store failed).
    """

    key: str
    outcome: str
    release: int | None = None
    version: int | None = None
    change: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        """The entry of ``renormalize --json`` for this source."""
        data: dict[str, object] = {"source": self.key, "outcome": self.outcome}
        for name in ("release", "version", "change", "error"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


def renormalize(
    store: Store, sources: Sequence[Source], *, snapshots: Path | None = None
) -> list[Renormalized]:
    """Re-derive the latest text of each of ``sources``; one result each."""
    results = []
    for source in sources:
        try:
            result = _one(store, source, snapshots)
        except PolicywatchError as exc:
            log.error("%s: could not re-derive the text: %s", source.key, exc)
            result = Renormalized(source.key, "failed", error=str(exc))
        log.info("%s %s", source.key, result.outcome, extra={"source": source.key})
        results.append(result)
    return results


def _one(store: Store, source: Source, snapshots: Path | None) -> Renormalized:
    key = source.key
    for _ in range(MAX_CONFLICTS):
        latest = store.latest(key)
        if latest is None:
            return Renormalized(key, "no-version")
        if latest.snapshot_id is None:
            return Renormalized(key, "no-snapshot", release=latest.normalizer)

        raw, content_type = store.snapshot(latest.snapshot_id)
        headers = store.snapshot_headers(latest.snapshot_id)
        try:
            page, text = _derive(raw, content_type, headers, source)
            if text_hash(text) == latest.sha256:
                return Renormalized(key, "unchanged", release=latest.normalizer)
            gate.check_page(
                page, text, latest_text=latest.text, select=source.extraction.select
            )
        except GateError as exc:
            return Renormalized(
                key, "failed", release=latest.normalizer, error=str(exc)
            )

        recorded = store.record(
            key,
            Attempt(outcome=OUTCOME, raw=raw, content_type=content_type),
            _technical_version(latest, text, source),
        )
        if recorded.conflict:
            continue
        if snapshots is not None:
            write_snapshot(snapshots, key, text)
        return Renormalized(
            key,
            OUTCOME,
            release=latest.normalizer,
            version=recorded.version_id,
            change=recorded.change_id,
        )
    raise PolicywatchError(f"{key}: versions kept being recorded concurrently")


def _technical_version(latest: StoredVersion, text: str, source: Source) -> NewVersion:
    # No triage: a technical change says nothing about the policy's claims.
    return NewVersion(
        text=text,
        sha256=text_hash(text),
        normalizer=RELEASE,
        based_on=latest.id,
        diff=make_diff(latest.text, text).to_json(),
        severity="cosmetic",
        triage={"claims_at_risk": [], "from_release": latest.normalizer},
        technical=True,
        extraction=fingerprint(source.extraction, source.render),
    )


def _derive(
    raw: bytes, content_type: str, headers: dict[str, str], source: Source
) -> tuple[str, str]:
    """The decoded page and its text, made exactly as a check makes them."""
    if content_type == pdf.MEDIA_TYPE:
        text = pdf.extract_text(raw)
        return "", normalize(
            text, content_type="text/plain", extraction=source.extraction
        )
    page = decode(raw, headers, content_type)
    return page, normalize(
        page, content_type=content_type, extraction=source.extraction
    )


def decode(raw: bytes, headers: dict[str, str], media: str = "text/html") -> str:
    """The text of a stored raw page, decoded as the fetch decoded it: with the
    charset its response named, a byte-order mark or ``<meta charset>``."""
    content_type = next(
        (value for name, value in headers.items() if name.lower() == "content-type"),
        "",
    )
    match = CHARSET.search(content_type)
    text, _ = fetch.decode(raw, match.group(1) if match else None, media)
    return text
