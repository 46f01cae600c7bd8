#!/usr/bin/python3
"""C10k/C50k benchmark: W concurrent http workers, each holding a connection
to a built-in origin that answers /delay/MS after MS milliseconds, so every
worker is in flight at once. Prints, per W (default 1,000, 10,000 and
50,000): req/s (the report's items/s), the peak RSS of `sluice run` (wait4)
and the failed items, medians of --runs runs, with the load average.

2 x W URLs over k origins, one `sluice serve` per loopback address
127.0.0.1 ... 127.0.0.k on one port (ephemeral ports are per address pair,
and each origin keeps its connections within its own descriptor limit).
A W beyond the descriptor hard limit (`ulimit -Hn`, less sluice's reserve
of 64) is skipped with a note: raise it (as root) to run it.

  benchmarks/http/bench_c10k.py [--sluice build/cli/sluice] [--runs 3]
      [--workers 1000,10000,50000] [--delay 1000] [--sink null|jsonl]
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_http import run_rusage  # noqa: E402

PER_ORIGIN = 8000  # connections per origin process


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_origins(sluice, k, port):
    procs = []
    for a in range(1, k + 1):
        p = subprocess.Popen([sluice, "serve", "--address", f"127.0.0.{a}", "--port", str(port),
                              "--threads", "1", "--idle-timeout", "120s"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        p.stdout.readline()
        procs.append(p)
    return procs


def one_run(args, w, work):
    k = max(1, -(-w // PER_ORIGIN))
    port = free_port()
    origins = start_origins(args.sluice, k, port)
    try:
        urls = os.path.join(work, "urls.txt")
        with open(urls, "w") as f:
            for i in range(2 * w):
                f.write(f"http://127.0.0.{i % k + 1}:{port}/delay/{args.delay}?i={i}\n")
        pipeline = os.path.join(work, "p.yaml")
        sink = ("  - type: jsonl\n    path: out.jsonl\n" if args.sink == "jsonl"
                else "  - type: null\n")
        with open(pipeline, "w") as f:
            f.write("producers:\n"
                    f"  - type: file\n    path: {urls}\n"
                    "consumers:\n"
                    f"  type: http\n  workers: {w}\n"
                    "sinks:\n" + sink)
        stats = os.path.join(work, "stats.json")
        r = run_rusage([args.sluice, "run", "--no-state", "-q", "--stats-json", stats, pipeline],
                       cwd=work)
        if not os.path.exists(stats):
            sys.exit(f"sluice run failed ({r['rc']}): {r['err'][-2000:]}")
        with open(stats) as f:
            rep = json.load(f)
        return {"rps": rep["items_per_s"], "rss": r["rss_kib"] / 1024, "failed": rep["failed"],
                "kinds": rep.get("errors_by_kind", {}), "rc": r["rc"]}
    finally:
        for p in origins:
            p.terminate()
        for p in origins:
            p.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluice", default=os.path.join(SOURCE, "build", "cli", "sluice"))
    ap.add_argument("--workers", default="1000,10000,50000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--delay", type=int, default=1000)
    ap.add_argument("--sink", default="null", choices=["null", "jsonl"])
    args = ap.parse_args()
    args.sluice = os.path.abspath(args.sluice)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    print(f"load average before: {open('/proc/loadavg').read().strip()}")
    print(f"{'workers':>8} {'req/s':>8} {'ideal':>8} {'peak RSS':>10} {'failed':>7}"
          f"   (medians of {args.runs}; /delay/{args.delay}, 2 URLs a worker, {args.sink} sink)")
    with tempfile.TemporaryDirectory(prefix="sluice-c10k-") as work:
        for w in [int(x) for x in args.workers.split(",")]:
            if hard != resource.RLIM_INFINITY and w + 64 > hard:
                print(f"{w:>8} skipped: needs ulimit -Hn >= {w + 64} (this machine: {hard})")
                continue
            runs = [one_run(args, w, work) for _ in range(args.runs)]
            for r in runs:
                if r["rc"] != 0 or r["failed"]:
                    print(f"  run exited {r['rc']}, errors {r['kinds']}", file=sys.stderr)
            ideal = w * 1000 / args.delay
            med = lambda key: statistics.median(r[key] for r in runs)
            print(f"{w:>8} {med('rps'):>8.0f} {ideal:>8.0f} {med('rss'):>8.1f} M "
                  f"{med('failed'):>7.0f}", flush=True)
    print(f"load average after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
