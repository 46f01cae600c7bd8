#!/usr/bin/env python3
"""Queue throughput: `sluice bench --no-sleep` against Python's asyncio.Queue.

Runs, interleaved and several times each,
  sluice bench --no-sleep --items 10000000 -p 5 -c 100 --capacity 1000 --json
  python3 asyncq_bench.py -p 5 -c 100 --total 1000000 --maxsize 1000
and prints every run, the medians and the ratio of sluice's items/s to
Python's (target: >= 10x).

Usage: benchmarks/asyncq/compare.py [--sluice PATH] [--runs N] [--items N] [--py-total N]
The Python peer is $ASYNCQ_BENCH_PY, else ../shared/bench/asyncq_bench.py next
to the repository (or one level further up, for git worktrees); when it is not
there, that peer is skipped with a message.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def find_python_peer():
    env = os.environ.get("ASYNCQ_BENCH_PY")
    if env:
        return env if os.path.isfile(env) else None
    for up in ("..", os.path.join("..", "..")):
        p = os.path.normpath(os.path.join(REPO, up, "shared", "bench", "asyncq_bench.py"))
        if os.path.isfile(p):
            return p
    return None


def find_sluice():
    for p in (os.path.join(REPO, "build", "cli", "sluice"),):
        if os.path.isfile(p):
            return p
    return "sluice"


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluice", default=find_sluice())
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--items", type=int, default=10_000_000)
    ap.add_argument("--py-total", type=int, default=1_000_000)
    ap.add_argument("--python", default="/usr/bin/python3")
    a = ap.parse_args()

    sluice_cmd = [a.sluice, "bench", "--no-sleep", "--items", str(a.items), "-p", "5", "-c", "100",
                  "--capacity", "1000", "--json"]
    peer = find_python_peer()
    py_cmd = None
    if peer is None:
        print("asyncq_bench.py not found (set ASYNCQ_BENCH_PY): skipping the Python peer")
    else:
        py_cmd = [a.python, peer, "-p", "5", "-c", "100", "--total", str(a.py_total),
                  "--maxsize", "1000"]

    print("sluice:", " ".join(sluice_cmd))
    if py_cmd:
        print("python:", " ".join(py_cmd))
    s_rates, p_rates = [], []
    for i in range(a.runs):
        s = run_json(sluice_cmd)
        s_rates.append(s["items_per_s"])
        line = (f"run {i + 1}: sluice {s['items_per_s']:>13,.0f} items/s "
                f"({s['items']} items, {s['wall_s']:.3f} s, {s['threads']} threads, "
                f"queue p50 {s['time_in_queue_ns']['p50'] / 1000:.1f} us)")
        if py_cmd:
            p = run_json(py_cmd)
            p_rates.append(p["items_per_s"])
            line += f" | python {p['items_per_s']:>11,.0f} items/s ({p['items']} items, {p['wall_s']:.3f} s)"
        print(line, flush=True)

    s_med = statistics.median(s_rates)
    print(f"median sluice bounded_queue: {s_med:,.0f} items/s over {a.runs} runs")
    if p_rates:
        p_med = statistics.median(p_rates)
        print(f"median python asyncio.Queue: {p_med:,.0f} items/s over {a.runs} runs")
        ratio = s_med / p_med
        print(f"ratio sluice/python: {ratio:.1f}x (target >= 10x): {'met' if ratio >= 10 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
