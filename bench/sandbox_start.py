"""Sandbox start cost: seconds per `run_python` of a GSM8K-style program, now and at an older commit.

The code agent runs k=5 programs per problem, so each run's fixed cost counts. The older sandbox is taken from
git (`git archive REV` into a temporary folder) and measured in alternation with the current one, so load on the
machine falls on both alike.

    .venv/bin/python bench/sandbox_start.py                 # current only
    .venv/bin/python bench/sandbox_start.py --before 31428f6 --runs 40
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROGRAM = "eggs = 16 - 3 - 4\nprint(eggs * 2)\n"
TIMER = (
    "import json, sys, time\n"
    "from graphwright.tools import run_python\n"
    f"run_python({PROGRAM!r})\n"  # the first run pays one-time set-up (imports, the root's plan)
    "times = []\n"
    "for _ in range(int(sys.argv[1])):\n"
    "    start = time.perf_counter()\n"
    f"    assert run_python({PROGRAM!r}).stdout == '18\\n'\n"
    "    times.append(time.perf_counter() - start)\n"
    "print(json.dumps(times))\n"
)


def _checkout(rev: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="gw-sandbox-bench-"))
    package = folder / "graphwright"
    package.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "__init__.py", "errors.py", "tools"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(package)], input=archive.stdout, check=True)
    return folder


def _times(path: Path | None, runs: int) -> list[float]:
    env_path = [str(path)] if path else []
    code = f"import sys; sys.path[:0] = {env_path!r}\n" + TIMER
    out = subprocess.run([sys.executable, "-c", code, str(runs)], check=True, capture_output=True, text=True, cwd="/")
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", default=None, help="a git revision whose sandbox to measure alongside")
    parser.add_argument("--runs", type=int, default=20, help="runs per batch")
    parser.add_argument("--batches", type=int, default=3, help="alternating batches of each")
    args = parser.parse_args()
    older = _checkout(args.before) if args.before else None
    found: dict[str, list[float]] = {"current": []}
    if older:
        found[f"at {args.before}"] = []
    for _ in range(args.batches):
        found["current"] += _times(None, args.runs)  # the installed (editable) package: this tree
        if older:
            found[f"at {args.before}"] += _times(older, args.runs)
    print(f"{'sandbox':16} {'runs':>5} {'median s':>9} {'p10 s':>7} {'p90 s':>7}")
    for name, times in found.items():
        cuts = statistics.quantiles(times, n=10)
        print(f"{name:16} {len(times):5d} {statistics.median(times):9.3f} {cuts[0]:7.3f} {cuts[-1]:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
