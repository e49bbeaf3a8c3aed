"""Measures one program run: wall time, CPU time and peak memory of its
whole process tree, and what it leaves on disk.

CPU time comes from the kernel's accounting of reaped children
(``RUSAGE_CHILDREN`` before and after), with this process made a child
subreaper so that helper processes the program starts (a process pool, a
fork server) are reaped here and counted too. Peak memory is sampled: the
largest sum of resident memory over the program and all its descendants,
read from /proc every 50 ms; the program's own ``ru_maxrss`` is kept as well.
That sum counts a page shared by several processes (the interpreter, the
libraries) once per process, so the largest sum of proportional set sizes
(PSS, each shared page split among its sharers) is sampled too: what the
tree really costs the machine. For a single process the two are close.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def become_subreaper() -> None:
    """Adopt orphaned descendants, so their CPU time is counted here."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@dataclass
class Measure:
    """One run of a program."""

    wall: float
    cpu: float
    peak_kb: int
    maxrss_kb: int
    returncode: int
    peak_pss_kb: int = 0


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    return parents


def _tree(root: int) -> set[int]:
    parents = _parents()
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return tree


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for row in rollup:
                if row.startswith(b"Pss:"):
                    return int(row.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


class _Sampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self.seen: set[int] = {root}
        self.done = threading.Event()

    def run(self) -> None:
        tree = {self.root}
        rounds = 0
        while not self.done.is_set():
            if rounds % 10 == 0:
                tree = _tree(self.root) | (self.seen - {self.root})
                self.seen |= tree
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p) for p in tree))
            if rounds % 4 == 0:  # every 200 ms: reading PSS walks page tables
                pss = sum(_pss_kb(p) for p in tree)
                self.peak_pss_kb = max(self.peak_pss_kb, pss)
            rounds += 1
            self.done.wait(0.05)


def _reap(pids: set[int]) -> None:
    for pid in pids:
        for _ in range(100):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.05)


def run(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    stdout: Path,
    stderr: Path,
) -> Measure:
    """Run ``command`` to its end and measure it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        sampler = _Sampler(child.pid)
        sampler.start()
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        sampler.done.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
    _reap(sampler.seen - {child.pid})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measure(
        wall=wall,
        cpu=cpu,
        peak_kb=max(sampler.peak_kb, usage.ru_maxrss),
        maxrss_kb=usage.ru_maxrss,
        returncode=child.returncode,
        peak_pss_kb=sampler.peak_pss_kb,
    )


def disk_size(*paths: Path) -> int:
    """Bytes held by these files and folders."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total
