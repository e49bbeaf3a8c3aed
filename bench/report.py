"""Prints the benchmark's figures: one line per run, then a table per size
with the ratios policywatch / urlwatch and policywatch / floor, and the goals."""

from __future__ import annotations

import os
import platform

from bench.tools import Figures

MB = 1024 * 1024


def machine() -> str:
    """The machine the figures come from."""
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, {total_kb / MB:.1f} GiB memory, "
        f"Python {platform.python_version()}, load average {load} at start"
    )


def line(f: Figures) -> str:
    """One run, as it finishes."""
    etag = "etag" if f.etag else "no-etag"
    outcomes = " ".join(f"{k}={v}" for k, v in sorted(f.outcomes.items()))
    return (
        f"{f.size:>6} {f.tool:<11} {f.run:<7} {etag:<7} wall {f.wall:7.1f}s "
        f"{f.per_second:7.1f}/s cpu {f.cpu:7.1f}s "
        f"({1000 * f.cpu / f.size:5.1f} ms/source) peak {f.peak_kb / 1024:6.0f}MB "
        f"pss {f.peak_pss_kb / 1024:4.0f}MB store {f.store_bytes / MB:7.1f}MB "
        f"{outcomes}"
    )


def check_outcomes(figures: list[Figures], expected_changed: int) -> None:
    """Warn when a run did not see what the pages did."""
    for f in figures:
        if f.tool != "policywatch":
            continue
        want = {
            "cold": {"new": f.size},
            "warm": {"unchanged": f.size},
            "changed": {
                "changed": expected_changed,
                "unchanged": f.size - expected_changed,
            },
        }[f.run]
        if f.outcomes != want:
            print(f"WARNING: policywatch {f.run} saw {f.outcomes}, expected {want}")


def _find(
    log: list[Figures], tool: str, size: int, run: str, etag: bool
) -> Figures | None:
    for f in log:
        same_etag = run == "floor" or f.etag == etag
        if (f.tool, f.size, f.run) == (tool, size, run) and same_etag:
            return f
    return None


def _ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}" if b else "  n/a"


def _stages(f: Figures) -> str:
    if not f.stages or not f.wall:
        return ""
    # fetch and normalize: seconds summed over the pages in flight, as a
    # multiple of the wall time; store and diff: the worker thread's share.
    parts = [
        f"{name} {f.stages.get(name, 0) / f.wall:.1f}x"
        for name in ("fetch", "normalize")
    ]
    for name in ("store", "diff"):
        parts.append(f"{name} {100 * f.stages.get(name, 0) / f.wall:.0f}%")
    return " ".join(parts)


def tables(log: list[Figures]) -> str:
    """A table per size, and the goals."""
    out = []
    for size in sorted({f.size for f in log}):
        out.append(f"\n== {size} sources ==")
        out.append(
            "run     etag     | pw wall  pw/s   cpu   peakMB storeMB | "
            "pw/uw: s/s   cpu  peak store | pw/floor wall | stages (share of wall)"
        )
        floor = _find(log, "floor", size, "floor", False)
        for run in ("cold", "warm", "changed"):
            for etag in (True, False):
                pw = _find(log, "policywatch", size, run, etag)
                if pw is None:
                    continue
                uw = _find(log, "urlwatch", size, run, etag)
                vs = "         n/a            "
                if uw is not None:
                    vs = " ".join(
                        [
                            _ratio(pw.per_second, uw.per_second),
                            _ratio(pw.cpu, uw.cpu),
                            _ratio(pw.peak_kb, uw.peak_kb),
                            _ratio(pw.store_bytes, uw.store_bytes),
                        ]
                    )
                fl = _ratio(pw.wall, floor.wall) if floor else "  n/a"
                mode = "on" if etag else "off"
                out.append(
                    f"{run:<7} {mode:<8} | {pw.wall:6.1f} {pw.per_second:6.1f} "
                    f"{pw.cpu:6.1f} {pw.peak_kb / 1024:6.0f} "
                    f"{pw.store_bytes / MB:7.1f} | {vs} | {fl:>13} | {_stages(pw)}"
                )
        for tool in ("urlwatch", "floor"):
            for f in log:
                if f.size == size and f.tool == tool:
                    out.append("  " + line(f))
    out.append(goals(log))
    return "\n".join(out)


def goals(log: list[Figures]) -> str:
    """The issue's goals, each met or not, from the figures."""
    rows = ["\n== goals =="]

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    for size in sorted({f.size for f in log}):
        floor = _find(log, "floor", size, "floor", False)
        for run, want in (("warm", 5.0), ("cold", 2.0)):
            for etag in (True, False):
                pw = _find(log, "policywatch", size, run, etag)
                uw = _find(log, "urlwatch", size, run, etag)
                if pw and uw:
                    r = pw.per_second / uw.per_second
                    rows.append(
                        f"{size:>6} {run} etag {'on' if etag else 'off'}: "
                        f"{r:.2f}x urlwatch's sources/s (goal >= {want:.0f}x): "
                        f"{verdict(r >= want)}"
                    )
        pws = [f for f in log if f.size == size and f.tool == "policywatch"]
        uws = [f for f in log if f.size == size and f.tool == "urlwatch"]
        if pws and uws:
            p, u = max(f.peak_kb for f in pws), max(f.peak_kb for f in uws)
            rows.append(
                f"{size:>6} peak memory {p / 1024:.0f} MB vs urlwatch "
                f"{u / 1024:.0f} MB (goal: below): {verdict(p < u)}"
            )
            p = max(f.peak_pss_kb for f in pws)
            u = max(f.peak_pss_kb for f in uws)
            rows.append(
                f"{size:>6} peak PSS {p / 1024:.0f} MB vs urlwatch "
                f"{u / 1024:.0f} MB (goal: below): {verdict(p < u)}"
            )
        for etag in (True, False):
            pw = _find(log, "policywatch", size, "warm", etag)
            if pw and floor:
                r = pw.wall / floor.wall
                rows.append(
                    f"{size:>6} warm etag {'on' if etag else 'off'}: {r:.2f}x the "
                    f"floor's wall time (goal <= 3x): {verdict(r <= 3)}"
                )
    sizes = sorted({f.size for f in log})
    if 1000 in sizes and 10000 in sizes:
        peak = {
            s: max(f.peak_kb for f in log if f.size == s and f.tool == "policywatch")
            for s in (1000, 10000)
        }
        r = peak[10000] / peak[1000]
        rows.append(
            f"peak memory 10,000 / 1,000 sources: {r:.2f} (goal: flat, <= 1.25): "
            f"{verdict(r <= 1.25)}"
        )
    return "\n".join(rows)


def _figures(data: dict[str, object]) -> list[Figures]:
    return [
        Figures(**{k: v for k, v in f.items() if k != "per_second"})
        for f in data["figures"]  # type: ignore[attr-defined]
    ]


def markdown(data: dict[str, object]) -> str:
    """The figures of a results.json as Markdown tables, for docs/benchmarks.md."""
    log = _figures(data)
    out = [
        f"Command: `{data['command']}`; {data['machine']}; "
        f"total {float(data['total_seconds']) / 60:.1f} min."  # type: ignore[arg-type]
    ]
    for size in sorted({f.size for f in log}):
        out += [
            f"\n### {size:,} sources\n",
            "| run | ETag | program | wall s | sources/s | CPU s | CPU ms/source "
            "| peak MB | peak PSS MB | store MB | outcomes | stages |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for run in ("cold", "floor", "warm", "changed"):
            for etag in (True, False):
                for tool in ("policywatch", "urlwatch", "floor"):
                    f = _find(log, tool, size, run, etag)
                    if f is None or (run == "floor" and not etag):
                        continue
                    mode = "-" if run == "floor" else ("on" if etag else "off")
                    outcomes = ", ".join(
                        f"{v} {k}" for k, v in sorted(f.outcomes.items())
                    )
                    out.append(
                        f"| {run} | {mode} | {tool} | {f.wall:.1f} "
                        f"| {f.per_second:.1f} | {f.cpu:.1f} "
                        f"| {1000 * f.cpu / f.size:.1f} "
                        f"| {f.peak_kb / 1024:.0f} | {f.peak_pss_kb / 1024:.0f} "
                        f"| {f.store_bytes / MB:.1f} "
                        f"| {outcomes} | {_stages(f)} |"
                    )
        floor = _find(log, "floor", size, "floor", False)
        if not any(f.size == size and f.tool == "urlwatch" for f in log):
            walls = [
                f"{run} ETag {'on' if etag else 'off'} {pw.wall / floor.wall:.2f}"
                for run in ("cold", "warm", "changed")
                for etag in (True, False)
                if floor and (pw := _find(log, "policywatch", size, run, etag))
            ]
            out.append(
                "\nurlwatch was not run at this size (`--urlwatch-max`). "
                f"policywatch's wall time / the floor's: {'; '.join(walls)}."
            )
            continue
        out += [
            "\npolicywatch / urlwatch and policywatch / floor:\n",
            "| run | ETag | sources/s | CPU | peak memory | peak PSS | store "
            "| wall / floor |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for run in ("cold", "warm", "changed"):
            for etag in (True, False):
                pw = _find(log, "policywatch", size, run, etag)
                uw = _find(log, "urlwatch", size, run, etag)
                if pw is None or uw is None:
                    continue
                out.append(
                    f"| {run} | {'on' if etag else 'off'} "
                    f"| {pw.per_second / uw.per_second:.2f} | {pw.cpu / uw.cpu:.2f} "
                    f"| {pw.peak_kb / uw.peak_kb:.2f} "
                    f"| {pw.peak_pss_kb / max(uw.peak_pss_kb, 1):.2f} "
                    f"| {pw.store_bytes / uw.store_bytes:.2f} "
                    f"| {pw.wall / floor.wall if floor else 0:.2f} |"
                )
    return "\n".join(out)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    results = json.loads(Path(sys.argv[1]).read_text())
    print(markdown(results))
    print(goals(_figures(results)))
