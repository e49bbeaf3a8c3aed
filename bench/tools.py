"""The programs the benchmark runs over the same pages: policywatch, urlwatch
and the floor, each in its own folder under bench/out, each as a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import measure

SOURCES_PER_VENDOR = 10
STAGE_LINE = re.compile(r"stage seconds: (.*)")


@dataclass
class Figures:
    """What one run of one program over one set of sources measured."""

    tool: str
    size: int
    run: str
    etag: bool
    wall: float
    cpu: float
    peak_kb: int
    maxrss_kb: int
    store_bytes: int
    outcomes: dict[str, int] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    peak_pss_kb: int = 0

    @property
    def per_second(self) -> float:
        return self.size / self.wall if self.wall else 0.0

    def to_json(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["per_second"] = self.per_second
        return data


class Tool:
    """A program under test, with its state folder."""

    name = ""

    def __init__(self, folder: Path, urls: list[str], concurrency: int) -> None:
        self.folder = folder
        self.urls = urls
        self.concurrency = concurrency

    def prepare(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.write_config()

    def write_config(self) -> None:
        raise NotImplementedError

    def copy(self, folder: Path) -> Tool:
        """The same program on a copy of this one's state."""
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(self.folder, folder)
        return type(self)(folder, self.urls, self.concurrency)

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def store_bytes(self) -> int:
        raise NotImplementedError

    def outcomes(self, stdout: str, stderr: str) -> dict[str, int]:
        return {}

    def stages(self, stderr: str) -> dict[str, float]:
        return {}

    def run(self, label: str, *, etag: bool) -> Figures:
        command, env = self.command()
        out, err = self.folder / f"{label}.out", self.folder / f"{label}.err"
        result = measure.run(command, env=env, cwd=self.folder, stdout=out, stderr=err)
        stdout = out.read_text(errors="replace")
        stderr = err.read_text(errors="replace")
        if result.returncode not in (0, 1):
            tail = stderr.strip().splitlines()[-3:]
            raise RuntimeError(
                f"{self.name} {label} exited {result.returncode}: {' | '.join(tail)}"
            )
        return Figures(
            tool=self.name,
            size=len(self.urls),
            run=label,
            etag=etag,
            wall=result.wall,
            cpu=result.cpu,
            peak_kb=result.peak_kb,
            maxrss_kb=result.maxrss_kb,
            peak_pss_kb=result.peak_pss_kb,
            store_bytes=self.store_bytes(),
            outcomes=self.outcomes(stdout, stderr),
            stages=self.stages(stderr),
        )


class Policywatch(Tool):
    """``python -m policywatch check`` over a generated catalog."""

    name = "policywatch"

    def write_config(self) -> None:
        hosts = len({u.split("/")[2] for u in self.urls})
        lines = [
            "[settings]",
            f"concurrency = {self.concurrency}",
            f"per_host = {max(1, -(-self.concurrency // hosts))}",
            'host_delay = "0s"',
            "",
        ]
        for start in range(0, len(self.urls), SOURCES_PER_VENDOR):
            vendor = f"vendor-{start // SOURCES_PER_VENDOR:05d}"
            lines += ["[[vendors]]", f'id = "{vendor}"', f'name = "{vendor}"', ""]
            for number in range(start, min(start + SOURCES_PER_VENDOR, len(self.urls))):
                lines += [
                    "[[vendors.sources]]",
                    f'id = "page-{number:05d}"',
                    f'url = "{self.urls[number]}"',
                    'kind = "privacy-policy"',
                    "",
                ]
        (self.folder / "sources.toml").write_text("\n".join(lines), encoding="utf-8")

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = {
            **os.environ,
            "POLICYWATCH_SOURCES": str(self.folder / "sources.toml"),
            "POLICYWATCH_DB": f"sqlite:///{self.folder / 'state' / 'policywatch.db'}",
            "POLICYWATCH_STATE": str(self.folder / "state"),
            "POLICYWATCH_SNAPSHOTS": str(self.folder / "snapshots"),
            "POLICYWATCH_REPORTS": str(self.folder / "reports"),
        }
        command = [sys.executable, "-m", "policywatch", "--log-level", "DEBUG"]
        return [*command, "check", "--json"], env

    def store_bytes(self) -> int:
        return measure.disk_size(self.folder / "state", self.folder / "snapshots")

    def outcomes(self, stdout: str, stderr: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in json.loads(stdout)["results"]:
            counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
        return counts

    def stages(self, stderr: str) -> dict[str, float]:
        found = STAGE_LINE.findall(stderr)
        if not found:
            return {}
        pairs = (item.split() for item in found[-1].split(", "))
        return {name: float(value) for name, value in pairs}


class Urlwatch(Tool):
    """urlwatch from PyPI, in its own virtual environment, with the
    ``html2text`` filter by Beautiful Soup and lxml (the parser policywatch uses)."""

    name = "urlwatch"
    venv: Path = Path()

    def write_config(self) -> None:
        jobs = [
            f"name: page {n}\nurl: {url}\nfilter:\n  - html2text:\n      method: bs4\n"
            for n, url in enumerate(self.urls)
        ]
        (self.folder / "urls.yaml").write_text("---\n".join(jobs), encoding="utf-8")
        (self.folder / "hooks.py").write_text("", encoding="utf-8")

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "HOME": str(self.folder)}
        files = ["--urls", "urls.yaml", "--config", "urlwatch.yaml"]
        files += ["--hooks", "hooks.py", "--cache", "cache.db"]
        return [str(self.venv / "bin" / "urlwatch"), *files], env

    def store_bytes(self) -> int:
        return measure.disk_size(*self.folder.glob("cache.db*"))

    def outcomes(self, stdout: str, stderr: str) -> dict[str, int]:
        counts = {}
        for word in ("NEW", "CHANGED", "ERROR"):
            found = len(re.findall(rf"^\d+\. {word}: ", stdout, re.M))
            if found:
                counts[word.lower()] = found
        return counts


class Floor(Tool):
    """httpx and lxml alone: fetch and parse, nothing stored."""

    name = "floor"

    def write_config(self) -> None:
        (self.folder / "urls.txt").write_text("\n".join(self.urls), encoding="utf-8")

    def command(self) -> tuple[list[str], dict[str, str]]:
        urls = str(self.folder / "urls.txt")
        return [sys.executable, "-m", "bench.floor", urls, str(self.concurrency)], {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }

    def store_bytes(self) -> int:
        return 0


def install_urlwatch(venv: Path) -> Path:
    """urlwatch in its own virtual environment (never policywatch's)."""
    if not (venv / "bin" / "urlwatch").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "urlwatch", "beautifulsoup4", "lxml"], check=True)
    return venv
