"""The review workflow as a library: listing, decisions, verdict edits, noise.

Changes come from real pages served on 127.0.0.1 and checked into a real
SQLite store; the helpers here are shared with the export and end-to-end
tests.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from policywatch import review
from policywatch.catalog import Catalog, load
from policywatch.check import Checker
from policywatch.cli import main
from policywatch.errors import CatalogError, NotFoundError, ReviewError
from policywatch.store import Store
from policywatch.store.models import ChangeRow, ReviewRow, VendorStateRow
from tests.conftest import Workspace, corpus_page
from tests.server import PageServer

DEEPSEEK = "deepseek/privacy-policy"
MISTRAL = "mistral-le-chat/privacy-policy"
DEEPSEEK_PAGE = corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z")
MISTRAL_BEFORE = corpus_page(f"{MISTRAL}/2025-12-15T23-34-52Z")
MISTRAL_AFTER = corpus_page(f"{MISTRAL}/2025-12-31T23-35-29Z")
NOISE = r"Last Update: .*"


def deepseek_dated(day: int) -> bytes:
    """The real DeepSeek page with its visible "Last Update" date moved to
    July ``day``: noise that changes no word of the policy."""
    old = b"Last Update:  July 4, 2025"
    assert old in DEEPSEEK_PAGE
    return DEEPSEEK_PAGE.replace(old, f"Last Update:  July {day}, 2025".encode())


def catalog_text(server: PageServer, *, answer: str = "Yes, unless opted out.") -> str:
    """A catalog of DeepSeek (reviewed verdict, one claim) and Mistral, both
    served by ``server``; with comments, to see that edits keep them."""
    return f"""# Test catalog for the review workflow.
[settings]
host_delay = "0s"   # the local server needs no politeness

[[vendors]]
id = "deepseek"
name = "DeepSeek"

[vendors.verdict]
reviewed = 2025-07-01
trains_by_default = true
opt_out = false
answer = "{answer}"

[[vendors.claims]]
id = "trains-on-inputs"
text = "Inputs are used to train and improve DeepSeek's models."
sources = ["privacy-policy"]

# The privacy policy; its "Last Update" line moves without the policy changing.
[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/deepseek/privacy")}"
kind = "privacy-policy"

# --- Mistral ---------------------------------------------------------------

[[vendors]]
id = "mistral-le-chat"
name = "Mistral Le Chat"

[vendors.verdict]
reviewed = 2025-12-01
trains_by_default = true
answer = "Yes on the free plan; opt out in settings."

[[vendors.claims]]
id = "portability"
text = "Users can take their personal data to another provider."
sources = ["privacy-policy"]
evidence = ["the right to obtain and transfer your personal data to another entity"]

[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/mistral/privacy")}"
kind = "privacy-policy"
"""


@dataclass
class Installation:
    """A workspace with its catalog, store and page server, checked in-process."""

    workspace: Workspace
    server: PageServer
    store: Store

    @property
    def catalog(self) -> Catalog:
        return load(self.workspace.root / "sources.toml")

    def check(self) -> dict[str, str]:
        """Check every source once; the outcome of each."""
        catalog = self.catalog
        results = Checker(catalog, self.store).run(list(catalog.sources()))
        return {r.key: r.outcome for r in results}

    def module_url(self, path: str) -> str:
        return self.server.url(path)

    def change_of(self, key: str) -> int:
        return next(
            c.id for c in review.summaries(self.store, states=None) if c.key == key
        )


@pytest.fixture(scope="module")
def module_server() -> Iterator[PageServer]:
    """One page server for the tests of a module (they run one at a time in
    a worker, and each sets the routes it needs)."""
    page_server = PageServer().start()
    yield page_server
    page_server.stop()


@pytest.fixture(scope="module")
def checked_twice(
    module_server: PageServer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A workspace whose two sources were checked twice: DeepSeek's date line
    moved (noise) and Mistral's policy really changed, so each has one open
    change. Built once per module, copied for each test."""
    workspace = Workspace(tmp_path_factory.mktemp("checked-twice"))
    module_server.serve("/deepseek/privacy", DEEPSEEK_PAGE)
    module_server.serve("/mistral/privacy", MISTRAL_BEFORE)
    workspace.write_catalog(catalog_text(module_server))
    store = Store(workspace.db_url)
    setup = Installation(workspace, module_server, store)
    assert set(setup.check().values()) == {"new"}
    serve_changed(module_server)
    assert set(setup.check().values()) == {"changed"}
    store.close()
    return workspace.root


def serve_changed(server: PageServer) -> None:
    """Serve the pages as they stood at the second check."""
    server.serve("/deepseek/privacy", deepseek_dated(7))
    server.serve("/mistral/privacy", MISTRAL_AFTER)


@pytest.fixture
def installation(
    checked_twice: Path, module_server: PageServer, tmp_path: Path
) -> Iterator[Installation]:
    """A fresh copy of the installation checked twice, pages as of then."""
    root = tmp_path / "installation"
    shutil.copytree(checked_twice, root)
    serve_changed(module_server)
    workspace = Workspace(root)
    store = Store(workspace.db_url)
    yield Installation(workspace, module_server, store)
    store.close()


def test_open_changes_come_most_severe_first(installation: Installation) -> None:
    """The Mistral change, whose claim lost its evidence, is listed before
    the minor date change, and both are open."""
    listed = review.open_changes(installation.store, installation.catalog)

    assert [(c.key, c.severity, c.state) for c in listed] == [
        (MISTRAL, "verdict-at-risk", "open"),
        (DEEPSEEK, "minor", "open"),
    ]


def test_decisions_are_appended_and_the_newest_sets_the_state(
    installation: Installation,
) -> None:
    """A second decision adds a row and leaves the first as it was; the
    change's state follows the newest decision."""
    store, catalog = installation.store, installation.catalog
    change = installation.change_of(MISTRAL)

    review.decide(store, catalog, change, "verdict-changed", author="ana", note="a")
    review.decide(store, catalog, change, "holds", author="bo", note="on reflection")

    rows = store.reviews(change)
    assert [(r.decision, r.author, r.note) for r in rows] == [
        ("verdict-changed", "ana", "a"),
        ("holds", "bo", "on reflection"),
    ]
    assert rows[0].decided_at <= rows[1].decided_at
    assert store.change(change).state == "holds"
    assert [c.key for c in review.open_changes(store, catalog)] == [DEEPSEEK]


def test_holds_sets_the_vendors_last_verified_time(installation: Installation) -> None:
    """Deciding that the verdict holds sets the vendor's last verified time
    to the decision's time, and only that vendor's."""
    store = installation.store
    change = installation.change_of(MISTRAL)

    decided = review.decide(
        store, installation.catalog, change, "holds", author="ana", note="fine"
    )

    assert store.last_verified("mistral-le-chat") == decided.decided_at
    assert store.last_verified("deepseek") is None


def test_verdict_changed_waits_for_the_catalog_edit(
    installation: Installation,
) -> None:
    """verdict-changed keeps the change open as verdict-update-needed; a bump
    of the reviewed date alone does not end that, an edit of the answer does
    (the change becomes verdict-updated and leaves the open list)."""
    store, root = installation.store, installation.workspace.root
    change = installation.change_of(DEEPSEEK)
    review.decide(store, installation.catalog, change, "verdict-changed", author="ana")
    assert store.change(change).state == "verdict-update-needed"
    assert DEEPSEEK in [c.key for c in review.open_changes(store, installation.catalog)]

    path = root / "sources.toml"
    path.write_text(path.read_text().replace("2025-07-01", "2025-07-20"))
    assert review.sync_states(store, installation.catalog) == []
    assert store.change(change).state == "verdict-update-needed"

    installation.workspace.write_catalog(
        catalog_text(installation.server, answer="Yes; no opt-out is offered.")
    )
    assert review.sync_states(store, installation.catalog) == [change]
    assert store.change(change).state == "verdict-updated"
    assert DEEPSEEK not in [
        c.key for c in review.open_changes(store, installation.catalog)
    ]


def test_noise_with_ignore_teaches_the_source(installation: Installation) -> None:
    """A noise decision with an ignore pattern adds it to the source in the
    catalog file, records a technical version without the date line, and the
    next check of the page with yet another date records no change."""
    store = installation.store
    change = installation.change_of(DEEPSEEK)

    decided = review.decide(
        store,
        installation.catalog,
        change,
        "noise",
        author="ana",
        note="date bump",
        ignore=[NOISE],
    )

    assert decided.ignore_added == (NOISE,)
    assert decided.technical_change is not None
    assert not decided.still_differs
    assert installation.catalog.find(DEEPSEEK).extraction.ignore == (NOISE,)  # type: ignore[union-attr]
    assert "Last Update: July" not in store.latest(DEEPSEEK).text  # type: ignore[union-attr]
    assert store.reviews(change)[-1].ignore_patterns == [NOISE]

    installation.server.serve("/deepseek/privacy", deepseek_dated(9))
    assert installation.check()[DEEPSEEK] == "unchanged"
    assert review.open_changes(store, installation.catalog)[0].key == MISTRAL


def test_the_same_noise_decision_twice_adds_the_pattern_once(
    installation: Installation,
) -> None:
    """Running the noise decision again records a second decision but leaves
    the catalog file and the versions as they were."""
    store, path = installation.store, installation.workspace.root / "sources.toml"
    change = installation.change_of(DEEPSEEK)
    review.decide(
        store, installation.catalog, change, "noise", author="a", ignore=[NOISE]
    )
    text, versions = path.read_text(), len(store.versions(DEEPSEEK))

    again = review.decide(
        store, installation.catalog, change, "noise", author="a", ignore=[NOISE]
    )

    assert again.ignore_added == ()
    assert again.technical_change is None
    assert path.read_text() == text
    assert len(store.versions(DEEPSEEK)) == versions
    assert len(store.reviews(change)) == 2


@pytest.mark.parametrize(
    ("decision", "author", "ignore", "message"),
    [
        ("maybe", "ana", [], "unknown decision 'maybe'"),
        ("holds", "  ", [], "needs its author: pass --by NAME"),
        ("holds", "ana", [NOISE], "ignore patterns go with a noise decision only"),
        ("noise", "ana", ["July ("], "is not a valid regex"),
        ("noise", "ana", ["x*"], "matches the empty text"),
        ("noise", "ana", ["Welcome to DeepSeek"], "matches nothing that changed"),
        ("noise", "ana", [r"(?s)Last Update.*"], "make them narrower"),
    ],
)
def test_a_decision_taken_wrongly_records_nothing(
    installation: Installation,
    decision: str,
    author: str,
    ignore: list[str],
    message: str,
) -> None:
    """Each wrong request fails with a message naming the fault, and leaves
    the store and the catalog file untouched."""
    path = installation.workspace.root / "sources.toml"
    before = path.read_text()
    change = installation.change_of(DEEPSEEK)

    with pytest.raises((ReviewError, CatalogError), match=re.escape(message)):
        review.decide(
            installation.store,
            installation.catalog,
            change,
            decision,
            author=author,
            ignore=ignore,
        )

    assert installation.store.reviews(change) == []
    assert installation.store.change(change).state == "open"
    assert path.read_text() == before


def test_an_unknown_or_technical_change_cannot_be_decided(
    installation: Installation,
) -> None:
    """An unknown id raises NotFoundError; a technical change (made by our own
    ignore rules) refuses review."""
    store, catalog = installation.store, installation.catalog
    with pytest.raises(NotFoundError, match="no change 999"):
        review.decide(store, catalog, 999, "holds", author="ana")
    decided = review.decide(
        store,
        catalog,
        installation.change_of(DEEPSEEK),
        "noise",
        author="a",
        ignore=[NOISE],
    )
    assert decided.technical_change is not None

    with pytest.raises(ReviewError, match="technical"):
        review.decide(store, catalog, decided.technical_change, "holds", author="a")


def test_the_vendor_state_is_a_single_row_per_vendor(
    installation: Installation,
) -> None:
    """Two holds decisions on one vendor keep one vendor row, at the later time."""
    store, catalog = installation.store, installation.catalog
    change = installation.change_of(MISTRAL)
    review.decide(store, catalog, change, "holds", author="a")
    second = review.decide(store, catalog, change, "holds", author="b")

    with store.session() as session:
        rows = list(session.scalars(select(VendorStateRow)))
        decisions = list(session.scalars(select(ReviewRow.decision)))
        state = session.scalars(select(ChangeRow.state).where(ChangeRow.id == change))
        assert state.one() == "holds"
    assert [(r.vendor_id, r.last_verified_at) for r in rows] == [
        ("mistral-le-chat", second.decided_at)
    ]
    assert decisions == ["holds", "holds"]


# -- the command line's errors -------------------------------------------------


def run_cli(workspace: Workspace, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process with the workspace's environment."""
    runner = CliRunner()
    result = runner.invoke(main, list(args), env=workspace.env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", "999", "--holds", "--by", "ana"], "error: no change 999"),
        (["decide", "{change}", "--holds"], "error: a decision needs its author"),
        (
            ["decide", "{change}", "--holds", "--noise", "--by", "ana"],
            "error: choose exactly one of --holds, --verdict-changed or --noise",
        ),
        (
            ["decide", "{change}", "--by", "ana"],
            "error: choose exactly one of --holds, --verdict-changed or --noise",
        ),
        (
            ["decide", "{change}", "--noise", "--by", "ana", "--ignore", "July ("],
            "error: ignore pattern 'July (' is not a valid regex",
        ),
    ],
)
def test_the_cli_names_the_fault_in_one_line(
    installation: Installation, args: list[str], message: str
) -> None:
    """Wrong decide commands exit 2 with one line naming the fault."""
    change = str(installation.change_of(DEEPSEEK))

    status, _, err = run_cli(
        installation.workspace, "review", *(a.replace("{change}", change) for a in args)
    )

    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(message)
    assert installation.store.reviews(int(change)) == []


# -- PostgreSQL ------------------------------------------------------------------

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_installation(
    checked_twice: Path, module_server: PageServer, tmp_path: Path
) -> Iterator[Installation]:
    """The installation's catalog over a store in a fresh schema of the
    PostgreSQL server at 127.0.0.1:5432 (skipped when it is not running),
    checked twice like the SQLite one."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"pw_review_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    root = tmp_path / "installation"
    root.mkdir()
    shutil.copyfile(checked_twice / "sources.toml", root / "sources.toml")
    store = Store(f"{POSTGRES}?options=-csearch_path%3D{schema}")
    setup = Installation(Workspace(root), module_server, store)
    module_server.serve("/deepseek/privacy", DEEPSEEK_PAGE)
    module_server.serve("/mistral/privacy", MISTRAL_BEFORE)
    setup.check()
    serve_changed(module_server)
    setup.check()
    yield setup
    store.close()
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.postgres
def test_decisions_and_states_on_postgresql(
    postgres_installation: Installation,
) -> None:
    """On PostgreSQL too: two holds decisions keep one vendor row at the later
    time, a verdict-changed change waits for the catalog edit, and noise with
    an ignore pattern silences the next check."""
    setup = postgres_installation
    store, catalog = setup.store, setup.catalog
    mistral, deepseek = setup.change_of(MISTRAL), setup.change_of(DEEPSEEK)

    review.decide(store, catalog, mistral, "holds", author="a")
    later = review.decide(store, catalog, mistral, "holds", author="b")
    review.decide(store, catalog, deepseek, "verdict-changed", author="a")

    assert store.last_verified("mistral-le-chat") == later.decided_at
    assert [c.state for c in review.open_changes(store, catalog)] == [
        "verdict-update-needed"
    ]
    review.decide(store, catalog, deepseek, "noise", author="a", ignore=[NOISE])
    setup.server.serve("/deepseek/privacy", deepseek_dated(9))
    assert setup.check()[DEEPSEEK] == "unchanged"
    assert review.open_changes(store, setup.catalog) == []


def test_the_cli_lists_and_shows_a_change(installation: Installation) -> None:
    """``review --json`` gives every field of each open change; ``review show``
    prints the verdict, the claim at risk and why, the changed words, and the
    decisions taken."""
    change = installation.change_of(MISTRAL)
    review.decide(
        installation.store, installation.catalog, change, "verdict-changed",
        author="ana", note="portability reworded",
    )  # fmt: skip

    status, out, err = run_cli(installation.workspace, "review", "--json")

    assert status == 0, err
    first = json.loads(out)[0]
    assert first == {
        "change": change,
        "vendor": "mistral-le-chat",
        "source": "privacy-policy",
        "url": installation.module_url("/mistral/privacy"),
        "severity": "verdict-at-risk",
        "state": "verdict-update-needed",
        "recorded_at": first["recorded_at"],
        "claims_at_risk": ["portability"],
    }
    status, out, err = run_cli(installation.workspace, "review", "show", str(change))
    assert status == 0, err
    assert "Yes on the free plan; opt out in settings." in out
    assert "- portability: Users can take their personal data" in out
    assert "evidence removed: 'the right to obtain and transfer" in out
    assert "zero data retention is [-activates-]{+activated+}" in out
    assert "verdict-changed by ana: portability reworded" in out
