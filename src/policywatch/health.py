"""The daemon's HTTP endpoint: /healthz (JSON) and /metrics (Prometheus).

Off by default; it listens only where ``policywatch daemon --listen`` says.
It reads the daemon's state and never touches the store or the network.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from policywatch.check import SourceResult
from policywatch.store.models import utcnow

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The Prometheus metrics of one daemon, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.checks = Counter(
            "policywatch_checks",
            "Checks of a source, by outcome (new, unchanged, changed, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "policywatch_failures",
            "Failed checks, by reason (timeout, http-503, blocked...).",
            ["reason"],
            registry=self.registry,
        )
        self.changes = Counter(
            "policywatch_changes",
            "Changes recorded, by severity.",
            ["severity"],
            registry=self.registry,
        )
        self.fetch_seconds = Histogram(
            "policywatch_fetch_seconds",
            "How long fetching one source took, retries included.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sources = Gauge(
            "policywatch_sources", "Sources scheduled.", registry=self.registry
        )
        self.failing = Gauge(
            "policywatch_failing_sources",
            "Sources whose latest check failed.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "policywatch_catalog_reloads",
            "Catalog reloads, by result (ok, rejected).",
            ["result"],
            registry=self.registry,
        )

    def observe(self, result: SourceResult) -> None:
        """Count one check."""
        self.checks.labels(result.outcome).inc()
        self.fetch_seconds.observe(result.fetch_seconds)
        if result.outcome == "failed":
            self.failures.labels(result.reason or "unknown").inc()
        if result.outcome == "changed":
            self.changes.labels(result.severity or "unknown").inc()


@dataclass
class Health:
    """What /healthz reports, kept up to date by the daemon."""

    started_at: dt.datetime = field(default_factory=utcnow)
    last_success: dt.datetime | None = None
    failing: dict[str, str] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)
    stopping: bool = False
    overdue: Callable[[], list[str]] = list

    def observe(self, result: SourceResult) -> None:
        """Note one check."""
        self.checked.add(result.key)
        if result.outcome == "failed":
            self.failing.setdefault(result.key, utcnow().isoformat())
        else:
            self.failing.pop(result.key, None)
            self.last_success = utcnow()

    def forget(self, keys: set[str]) -> None:
        """Drop sources removed from the catalog."""
        self.checked -= keys
        for key in keys:
            self.failing.pop(key, None)

    def report(self) -> tuple[int, dict[str, Any]]:
        """The HTTP status (200 or 503) and the JSON body of /healthz.

        503 when the daemon is stopping, when a due source has waited too long
        to be checked (the scheduler is stuck), or when every checked source
        is failing (the network or the store is down).
        """
        overdue = self.overdue()
        failing = dict(self.failing)
        status = "ok"
        if self.stopping:
            status = "stopping"
        elif overdue:
            status = "stalled"
        elif self.checked and len(failing) >= len(self.checked):
            status = "failing"
        body = {
            "status": status,
            "started_at": self.started_at.isoformat(),
            "last_successful_check": self.last_success.isoformat()
            if self.last_success
            else None,
            "sources_checked": len(self.checked),
            "failing": [{"source": k, "since": v} for k, v in sorted(failing.items())],
            "overdue": overdue[:100],
        }
        return (200 if status == "ok" else 503), body


class HealthServer:
    """Serves /healthz and /metrics on a thread of its own."""

    def __init__(self, host: str, port: int, health: Health, metrics: Metrics) -> None:
        handler = _handler(health, metrics)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="health", daemon=True
        )

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Start serving."""
        self.thread.start()
        log.info("health and metrics on %s/healthz and /metrics", self.address)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(health: Health, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/healthz":
                status, body = health.report()
                self._send(status, "application/json", json.dumps(body).encode())
            elif self.path == "/metrics":
                data = generate_latest(metrics.registry)
                self._send(200, CONTENT_TYPE_LATEST, data)
            else:
                self._send(404, "text/plain", b"not found: try /healthz or /metrics\n")

        def _send(self, status: int, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
