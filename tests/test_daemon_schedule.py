"""When the daemon checks a source, and what its HTTP endpoint answers."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

from policywatch.catalog import Schedule
from policywatch.check import SourceResult
from policywatch.daemon import first_due, jitter, period
from policywatch.health import Health, HealthServer, Metrics

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
HOURLY = Schedule(every=3600.0)
DAILY_AT_SIX = Schedule(cron="0 6 * * *")


def test_jitter_is_a_tenth_of_the_period_capped_at_five_minutes() -> None:
    """A 1 s schedule drifts at most 0.1 s; hourly and daily ones 5 minutes."""
    assert jitter(Schedule(every=1.0)) == 0.1
    assert jitter(HOURLY) == 300.0
    assert period(DAILY_AT_SIX) == 86400.0
    assert jitter(DAILY_AT_SIX) == 300.0


def test_a_stored_next_due_time_in_the_future_is_kept() -> None:
    """After a restart, a source not yet due waits for its stored time."""
    later = NOW + dt.timedelta(minutes=40)
    assert first_due(HOURLY, later, NOW - dt.timedelta(minutes=20), NOW) == later


def test_a_schedule_shortened_while_stopped_is_not_held_back() -> None:
    """A stored next due time a day ahead is dropped when the source is now
    hourly: it is due one hour after its last check instead."""
    tomorrow = NOW + dt.timedelta(days=1)
    last = NOW - dt.timedelta(minutes=20)
    assert first_due(HOURLY, tomorrow, last, NOW) == last + dt.timedelta(hours=1)


def test_a_due_time_missed_while_stopped_runs_once_soon() -> None:
    """A source that fell due while the daemon was down is checked right away
    (within the jitter), not skipped and not once per missed period."""
    missed = NOW - dt.timedelta(hours=5)
    due = first_due(HOURLY, missed, missed, NOW)
    assert NOW <= due <= NOW + dt.timedelta(seconds=300)


def test_without_a_stored_time_the_last_check_sets_the_next() -> None:
    """A source last checked by a one-shot check is due one period later, or
    at the next cron time after that check."""
    last = NOW - dt.timedelta(minutes=10)
    assert first_due(HOURLY, None, last, NOW) == last + dt.timedelta(hours=1)
    due = first_due(DAILY_AT_SIX, None, last, NOW)
    assert due == dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC)


def test_never_checked_sources_are_spread_over_the_jitter() -> None:
    """Sources never checked start now, spread over the jitter window so that
    they do not all fire in the same instant."""
    dues = {first_due(HOURLY, None, None, NOW) for _ in range(50)}
    assert all(NOW <= d <= NOW + dt.timedelta(seconds=300) for d in dues)
    assert len(dues) > 40


def result(key: str, outcome: str, **kwargs: object) -> SourceResult:
    vendor, _, source = key.partition("/")
    return SourceResult(vendor, source, outcome, **kwargs)  # type: ignore[arg-type]


def test_health_is_ok_until_everything_fails_or_it_stops() -> None:
    """200 while some source is fetched; 503 when every checked source
    fails, when a due check is overdue, or while stopping."""
    health = Health()
    health.observe(result("a/x", "unchanged"))
    health.observe(result("b/y", "failed", reason="timeout"))
    status, body = health.report()
    assert status == 200 and body["status"] == "ok"
    assert [f["source"] for f in body["failing"]] == ["b/y"]
    assert body["last_successful_check"] is not None

    health.observe(result("a/x", "failed", reason="http-503"))
    assert health.report()[0] == 503
    assert health.report()[1]["status"] == "failing"

    health.observe(result("a/x", "unchanged"))
    health.overdue = lambda: ["c/z"]
    assert health.report() == (503, health.report()[1])
    assert health.report()[1]["status"] == "stalled"

    health.overdue = list
    health.stopping = True
    assert health.report()[1]["status"] == "stopping"


def test_health_server_serves_healthz_and_metrics() -> None:
    """/healthz is JSON with the status code of the report; /metrics is the
    Prometheus text with checks by outcome, changes by severity and the
    fetch latency histogram; anything else is 404."""
    health, metrics = Health(), Metrics()
    for item in (
        result("a/x", "changed", severity="substantive", fetch_seconds=0.2),
        result("a/y", "failed", reason="timeout", fetch_seconds=30.0),
    ):
        health.observe(item)
        metrics.observe(item)
    server = HealthServer("127.0.0.1", 0, health, metrics)
    server.start()
    try:
        with urllib.request.urlopen(f"{server.address}/healthz") as answer:
            assert answer.status == 200
            assert json.load(answer)["failing"][0]["source"] == "a/y"
        text = urllib.request.urlopen(f"{server.address}/metrics").read().decode()
        try:
            urllib.request.urlopen(f"{server.address}/nope")
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        server.stop()
    assert 'policywatch_checks_total{outcome="changed"} 1.0' in text
    assert 'policywatch_failures_total{reason="timeout"} 1.0' in text
    assert 'policywatch_changes_total{severity="substantive"} 1.0' in text
    assert 'policywatch_fetch_seconds_bucket{le="0.25"} 1.0' in text
    assert "policywatch_fetch_seconds_count 2.0" in text
