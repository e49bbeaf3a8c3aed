"""A check killed with SIGKILL at random moments, many times over, leaves a
sound store: no partial or duplicated version, and the next check completes
and agrees with a clean run; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from policywatch.check import Checker
from policywatch.snapshots import path_for
from policywatch.store import Store, integrity
from policywatch.store.models import FetchAttemptRow
from tests.server import PageServer
from tests.store_scenario import Scenario

MIN_ROUNDS = 6
MAX_ROUNDS = 12
BUDGET = 20.0  # seconds of killed rounds, past MIN_ROUNDS


def is_ordered_subset(recorded: list[str], served: list[str]) -> bool:
    """True if ``recorded`` is ``served`` with some entries left out."""
    remaining = iter(served)
    return all(text in remaining for text in recorded)


def kill_rounds(scenario: Scenario, rng: random.Random) -> tuple[int, list[str]]:
    """Round 0 runs to the end. Later rounds are killed: even ones at a random
    moment of a run's length (start-up, fetching or recording), odd ones at a
    random moment once the check has begun recording. Returns the number of
    rounds and a log of them."""
    store = Store(scenario.db_url)
    scenario.serve(0)
    started = time.monotonic()
    assert scenario.start_check().wait(timeout=300) in (0, 1)
    length = time.monotonic() - started

    log, round_ = [], 1
    deadline = time.monotonic() + BUDGET
    while round_ < MIN_ROUNDS or (time.monotonic() < deadline and round_ < MAX_ROUNDS):
        scenario.serve(round_)
        attempts = store.count(FetchAttemptRow)
        check = scenario.start_check()
        if round_ % 2:
            _wait_for_recording(store, check, attempts)
            time.sleep(rng.uniform(0, 0.5))
        else:
            time.sleep(rng.uniform(0.2, 1.1) * length)
        killed = check.poll() is None
        if killed:
            os.kill(check.pid, signal.SIGKILL)
        check.wait(timeout=300)
        done = store.count(FetchAttemptRow) - attempts
        log.append(
            f"round {round_}: {'killed' if killed else 'ended'}, "
            f"{done}/{scenario.count} sources recorded"
        )
        round_ += 1
    store.close()
    return round_, log


def _wait_for_recording(
    store: Store, check: subprocess.Popen[bytes], attempts: int
) -> None:
    while check.poll() is None and store.count(FetchAttemptRow) == attempts:
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_checks_lose_and_duplicate_nothing(
    server: PageServer, tmp_path: Path, db_url: str
) -> None:
    """After many SIGKILLed checks over sources whose pages move on every
    other round: the deep integrity check passes; each source's versions are
    whole texts it served, in order, none twice; the next check completes,
    and its latest texts and snapshots/ files equal a clean run's."""
    seed = random.randrange(2**32)
    scenario = Scenario(server, tmp_path / "killed", db_url, count=10, every=2)

    rounds, log = kill_rounds(scenario, random.Random(seed))
    context = f"seed {seed}\n" + "\n".join(log)

    store = Store(db_url)
    assert integrity.check(store, deep=True) == [], context
    for i in range(scenario.count):
        recorded = [v.text for v in store.versions(scenario.key(i))]
        served = scenario.expected_line(i, rounds)
        assert is_ordered_subset(recorded, served), f"{scenario.key(i)}\n{context}"

    assert scenario.start_check().wait(timeout=300) in (0, 1), context
    clean = Store(f"sqlite:///{tmp_path / 'clean.db'}")
    Checker(scenario.catalog, clean).run(list(scenario.catalog.sources()))
    for version in clean.latest_versions():
        latest = store.latest(version.key)
        assert latest is not None and latest.text == version.text, context
        file = path_for(scenario.root / "snapshots", version.key)
        assert file.read_text(encoding="utf-8") == version.text, context
    assert len(clean.latest_versions()) == scenario.count
    assert integrity.check(store) == [], context
    assert sum("killed" in line for line in log) >= MIN_ROUNDS // 2, context
    print(context)
    store.close()
    clean.close()
