#!/usr/bin/python3
"""Many-origins benchmark: one request to each of N distinct origins, and
the resident memory of `sluice run` as it goes.

Every origin is a distinct loopback address, http://127.A.B.C:PORT/ (127/8
is all loopback on Linux), served by one built-in origin (`sluice serve`)
listening on the wildcard address of PORT, so a million origins need one
listener. Traffic never leaves the machine: every destination is in 127/8.

For each N (default 100,000 and 1,000,000) it runs sluice --runs times
(null sink, no state) and prints, as medians: the RSS when 10%, 50% and
100% of the items were done (sampled from /proc every 100 ms against the
run's Prometheus counter sluice_items_done_total), the peak RSS (wait4),
req/s and the errors; then the ratio RSS(100%)/RSS(10%), which is about 1
when memory is flat. The load average is printed before and after.

  benchmarks/origins/bench_origins.py [--sluice build/cli/sluice]
      [--origins 100000,1000000] [--runs 3] [--workers 100]
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def address(i):
    """The i-th origin's address: 127.1.0.0 upwards (127.0.0.0/16 left alone)."""
    n = (1 << 16) + i
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def items_done(metrics_url):
    try:
        with urllib.request.urlopen(metrics_url, timeout=1) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("sluice_items_done_total"):
                    return float(line.split()[-1])
    except OSError:
        pass
    return None


def one_run(args, n, work):
    urls = os.path.join(work, f"urls-{n}.txt")
    if not os.path.exists(urls):
        with open(urls, "w") as f:
            for i in range(n):
                f.write(f"http://{address(i)}:{args.port}/bytes/16\n")
    mport = free_port()
    pipeline = os.path.join(work, "p.yaml")
    with open(pipeline, "w") as f:
        f.write(
            "producers:\n"
            f"  - type: file\n    path: {urls}\n"
            "consumers:\n"
            f"  type: http\n  workers: {args.workers}\n"
            "sinks:\n  - type: null\n"
        )
    stats = os.path.join(work, "stats.json")
    argv = [args.sluice, "run", "--no-state", "-q", "--metrics", f"127.0.0.1:{mport}",
            "--stats-json", stats, pipeline]
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    marks = {}
    metrics_url = f"http://127.0.0.1:{mport}/metrics"
    last_rss = 0
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.1)
        rss = rss_kib(p.pid)
        done = items_done(metrics_url)
        if rss:
            last_rss = rss
        if done is None:
            continue
        for frac in (0.1, 0.5, 1.0):
            if frac not in marks and done >= frac * n:
                marks[frac] = rss
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    marks.setdefault(1.0, last_rss)
    report = {}
    if os.path.exists(stats):
        with open(stats) as f:
            report = json.load(f)
    return {
        "rc": p.returncode,
        "wall": wall,
        "rps": n / wall,
        "peak": ru.ru_maxrss,
        "r10": marks.get(0.1, 0),
        "r50": marks.get(0.5, 0),
        "r100": marks.get(1.0, 0),
        "failed": report.get("failed", -1),
        "err": report.get("errors_by_kind", {}) if p.returncode else {},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluice", default=os.path.join(SOURCE, "build", "cli", "sluice"))
    ap.add_argument("--origins", default="100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    args.sluice = os.path.abspath(args.sluice)
    args.port = args.port or free_port()
    print(f"load average before: {open('/proc/loadavg').read().strip()}")
    server = subprocess.Popen(
        [args.sluice, "serve", "--address", "0.0.0.0",
         "--port", str(args.port), "--threads", "1", "--idle-timeout", "5s"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    server.stdout.readline()
    try:
        with tempfile.TemporaryDirectory(prefix="sluice-origins-") as work:
            print(f"{'origins':>9} {'req/s':>8} {'RSS@10%':>9} {'RSS@50%':>9} {'RSS@100%':>9} "
                  f"{'peak':>9} {'100/10':>7} {'failed':>7}   (MiB; medians of {args.runs})")
            for n in [int(x) for x in args.origins.split(",")]:
                runs = [one_run(args, n, work) for _ in range(args.runs)]
                for r in runs:
                    if r["rc"] != 0:
                        print(f"  run exited {r['rc']}: {r['err']}", file=sys.stderr)
                med = {k: statistics.median(r[k] for r in runs)
                       for k in ("rps", "peak", "r10", "r50", "r100", "failed")}
                mib = lambda k: med[k] / 1024
                ratio = med["r100"] / med["r10"] if med["r10"] else float("nan")
                print(f"{n:>9} {med['rps']:>8.0f} {mib('r10'):>9.1f} {mib('r50'):>9.1f} "
                      f"{mib('r100'):>9.1f} {mib('peak'):>9.1f} {ratio:>7.2f} "
                      f"{med['failed']:>7.0f}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"load average after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
