"""Run pyflows' benchmarks and print one JSON line per measurement, then a table.

    python bench/run.py                      # everything (under a minute on 2 cores)
    python bench/run.py --quick              # fewer runs each
    python bench/run.py --only cli,reload    # some groups
    python bench/run.py --json bench/results/latest.json   # also save them (bench/results/ is ignored)
    python bench/run.py --wait-quiet 60      # on a shared machine: wait for other work to stop first

Groups: cold_start, cli, throughput, latency, reload, memory, engine, scale, triggers, storage, explorer, testing
(see each module's docstring).
The ratio compares with Wrangler 4.164's local mode measured on the same kind of 2-core machine:
above 1 pyflows is that many times better, below 1 worse. Exit status 1 if a group failed to run
(a missed target is reported in the table, not as a failure).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict

from _harness import CpuMeter, Result, bytecode_cache, machine, warm_up

# group -> (module, function, runs, quick runs)
GROUPS: dict[str, tuple[str, str, int, int]] = {
    "cold_start": ("dev_bench", "cold_start", 7, 3),
    "cli": ("dev_bench", "cli", 10, 5),
    "throughput": ("load_bench", "throughput", 5, 1),
    "latency": ("load_bench", "latency", 20, 10),
    "reload": ("dev_bench", "hot_reload", 7, 3),
    "memory": ("load_bench", "memory", 3, 1),
    "engine": ("engine_bench", "engine", 3, 1),
    "explorer": ("explorer_bench", "explorer", 5, 2),
    "scale": ("scale_bench", "scale", 1, 1),
    "triggers": ("triggers_bench", "triggers", 3, 1),
    "storage": ("storage_bench", "storage", 3, 1),  # KV/D1/R2 bindings (issue 11)
    "testing": ("testing_bench", "testing", 5, 2),
}


def _group(name: str) -> Callable[[int, list[Result]], None]:
    import importlib

    module, function, _, _ = GROUPS[name]
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.3f}"


def _ratio(res: Result) -> str:
    if res.ratio is None:
        return "–"
    return f"{res.ratio:.1f}× better" if res.ratio >= 1 else f"{1 / res.ratio:.1f}× worse"


def _source(res: Result) -> str:
    return " (same run)" if str(res.extra.get("wrangler_source", "")).startswith("same run") else " (recorded)"


def _target(res: Result) -> str:
    """`<= 0.45 s`; a relative target (`>= 10x the kit`) has no unit."""
    return str(res.target) if "x " in str(res.target) else f"{res.target} {res.unit}"


def table(results: list[Result]) -> str:
    rows = [("measurement", "median", "min–max", "runs", "Wrangler", "vs Wrangler", "target", "", "other load")]
    for r in results:
        verdict = "" if r.passed is None else ("PASS" if r.passed else "MISS")
        rows.append(
            (
                r.name,
                f"{_fmt(r.median)} {r.unit}",
                f"{_fmt(r.min)}–{_fmt(r.max)}",
                str(r.runs),
                "–" if r.wrangler is None else f"{_fmt(r.wrangler)} {r.unit}" + _source(r),
                _ratio(r),
                "–" if r.target is None else f"{_target(r)} ({r.issue})",
                verdict,
                f"{r.extra['other_load_cores']:.2f} cores" if "other_load_cores" in r.extra else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def wait_quiet(limit_s: float, threshold: float = 0.3) -> None:
    """Wait (at most `limit_s`) until other work uses at most `threshold` cores over one second."""
    started = time.perf_counter()
    while True:
        meter = CpuMeter()
        time.sleep(1.0)
        other = meter.other_cores()
        if other <= threshold or time.perf_counter() - started >= limit_s:
            print(
                f"# waited {time.perf_counter() - started:.0f} s for a quiet machine: other work {other:.2f} cores",
                file=sys.stderr,
                flush=True,
            )
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help=f"comma-separated groups: {', '.join(GROUPS)}")
    parser.add_argument("--quick", action="store_true", help="fewer runs per measurement")
    parser.add_argument("--json", metavar="FILE", help="save the results and the machine as JSON")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run pyflows with the environment as it is (no PYTHONPYCACHEPREFIX, no warm-up)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each group, wait up to SECONDS for other work to use < 0.3 cores",
    )
    args = parser.parse_args(argv)
    names = list(GROUPS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")

    info = machine()
    print(
        f"# machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, load {info['loadavg']}",
        file=sys.stderr,
        flush=True,
    )
    info["bytecode_cache"] = not args.no_bytecode_cache
    results: list[Result] = []
    failed: list[str] = []
    started = time.perf_counter()
    with bytecode_cache(not args.no_bytecode_cache):
        if not args.no_bytecode_cache and set(names) - {"engine"}:
            warm_up()
            print(f"# warm-up: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        for name in names:
            _, _, runs, quick = GROUPS[name]
            if args.wait_quiet > 0:
                wait_quiet(args.wait_quiet)
            group_started = time.perf_counter()
            meter = CpuMeter()
            first = len(results)
            try:
                _group(name)(quick if args.quick else runs, results)
            except Exception:  # one broken group must not hide the others' numbers
                failed.append(name)
                print(f"# group {name} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            other = meter.other_cores()
            for res in results[first:]:
                res.extra["other_load_cores"] = other
            print(
                f"# {name}: {time.perf_counter() - group_started:.1f} s; "
                f"other work on the machine meanwhile: {other:.2f} cores",
                file=sys.stderr,
                flush=True,
            )
    total = time.perf_counter() - started
    info["loadavg_after"] = [round(x, 2) for x in machine()["loadavg"]]

    print()
    print(table(results))
    print(
        f"\n{len(results)} measurements in {total:.0f} s on {info['nproc']} cores ({info['cpu']}), "
        f"Python {info['python']}; load average before {info['loadavg']}, after {info['loadavg_after']}."
    )
    if failed:
        print(f"Groups that failed to run: {', '.join(failed)} (tracebacks above).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "quick": args.quick,
                    "seconds": round(total, 1),
                    "failed": failed,
                    "results": [asdict(r) for r in results],
                },
                f,
                indent=2,
            )
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
