#!/usr/bin/env python3
"""Runtime throughput: the zero-work pipeline against Python asyncio, side by side.

The pipeline is `range` -> `sleep` (delay 0) -> sink, with N items, a queue of
1000, W workers and T threads, once with the `null` sink and once with
`jsonl` (a real file in a temporary directory). Its peer is the asyncio
equivalent: one producer putting the same URLs into `asyncio.Queue(1000)`, W
tasks that get an item, make the same result record and task_done; with
`jsonl` they write the same JSON line per item (keys, order and format of
sluice's jsonl sink) to a buffered file. Every round runs each program once
per sink, interleaved (and a second sluice binary, --baseline, when given),
so that all figures of a round share the machine's load; the load average is
printed before and after each round. Figures are each program's own items/s
(sluice: the report's items_per_s; Python: items over the time from creating
the queue to the last task cancelled), then the medians and the ratios.

Usage: benchmarks/runtime/bench_runtime.py [--sluice PATH] [--baseline PATH]
       [--runs N] [--items N] [--workers W] [--threads T] [--sinks null,jsonl]
       [--python PATH] [--json]
Python standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

PIPELINE = """# The zero-work pipeline of benchmarks/runtime/bench_runtime.py.
name: bench-runtime
threads: {threads}
producers:
  - type: range
    url: "http://127.0.0.1:8080/item/{{i}}"
    from: 0
    to: {items}
queue:
  capacity: 1000
consumers:
  type: sleep
  workers: {workers}
  delay: 0ms
sinks:
  - type: {sink}
{sink_options}"""

# The asyncio peer. The record is what sluice's jsonl sink writes for a
# sleep result (compact separators, the same keys in the same order, times
# in milliseconds and an ISO-8601 UTC stamp in milliseconds).
PEER = r'''
import asyncio, datetime, json, sys, time

items, workers, sink, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def stamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

async def produce(q):
    put = q.put
    for i in range(items):
        await put((f"http://127.0.0.1:8080/item/{i}", i, time.perf_counter()))

async def process(url):
    # The sleep consumer with delay 0: a coroutine that awaits nothing.
    return {"url": url, "ok": True, "bytes": 0}

async def consume(q, w, out):
    get, done, clock, dumps = q.get, q.task_done, time.perf_counter, json.dumps
    while True:
        url, index, enqueued = await get()
        started = clock()
        r = await process(url)
        finished = clock()
        rec = {"url": r["url"], "index": index, "producer": 0, "worker": w, "ok": r["ok"],
               "bytes": r["bytes"], "queue_ms": round((started - enqueued) * 1000, 6),
               "total_ms": round((finished - started) * 1000, 6), "stored_at": stamp()}
        if out is not None:
            out.write(dumps(rec, separators=(",", ":")) + "\n")
        done()

async def main(out):
    q = asyncio.Queue(1000)
    consumers = [asyncio.create_task(consume(q, w, out)) for w in range(workers)]
    await produce(q)
    await q.join()
    for t in consumers:
        t.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)

out = open(path, "w", buffering=1 << 16) if sink == "jsonl" else None
t0 = time.perf_counter()
asyncio.run(main(out))
if out is not None:
    out.close()
dt = time.perf_counter() - t0
print(json.dumps({"items": items, "wall_s": dt, "items_per_s": items / dt}))
'''


def find_sluice():
    p = os.path.join(REPO, "build", "cli", "sluice")
    return p if os.path.isfile(p) else "sluice"


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def run_sluice(binary, pipeline, stats):
    subprocess.run([binary, "run", pipeline, "-q", "--no-state", "--stats-json", stats],
                   check=True, stdout=subprocess.DEVNULL)
    with open(stats, encoding="utf-8") as f:
        report = json.load(f)
    return report["items_per_s"]


def run_python(python, peer, items, workers, sink, out):
    res = subprocess.run([python, peer, str(items), str(workers), sink, out], check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["items_per_s"]


def count_lines(path, items):
    with open(path, "rb") as f:
        n = sum(1 for _ in f)
    if n != items:
        sys.exit(f"bench_runtime: {path} has {n} lines, expected {items}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluice", default=find_sluice())
    ap.add_argument("--baseline", help="another sluice binary, measured in the same rounds")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sinks", default="null,jsonl")
    ap.add_argument("--python", default=sys.executable or "/usr/bin/python3")
    ap.add_argument("--json", action="store_true", help="also print the medians as JSON")
    a = ap.parse_args()
    sinks = [s for s in a.sinks.split(",") if s]
    for s in sinks:
        if s not in ("null", "jsonl"):
            sys.exit(f"bench_runtime: unknown sink {s!r} (null or jsonl)")
    programs = [("sluice", a.sluice)] + ([("baseline", a.baseline)] if a.baseline else [])

    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        peer = os.path.join(tmp, "peer.py")
        with open(peer, "w", encoding="utf-8") as f:
            f.write(PEER)
        pipelines = {}
        for s in sinks:
            opts = f"    path: {os.path.join(tmp, 'out.jsonl')}\n" if s == "jsonl" else ""
            pipelines[s] = os.path.join(tmp, f"zero-{s}.yaml")
            with open(pipelines[s], "w", encoding="utf-8") as f:
                f.write(PIPELINE.format(threads=a.threads, items=a.items, workers=a.workers,
                                        sink=s, sink_options=opts))
        stats = os.path.join(tmp, "stats.json")
        out = os.path.join(tmp, "out.jsonl")
        rates = {(p, s): [] for p, _ in programs + [("python", None)] for s in sinks}
        loads = []
        print(f"zero-work pipeline: {a.items:,} items, {a.workers} workers, {a.threads} threads, "
              f"queue 1000; peer: asyncio.Queue(1000), {a.workers} tasks ({a.python})")
        for r in range(a.runs):
            before = loadavg()
            line = []
            for s in sinks:
                for name, binary in programs:
                    v = run_sluice(binary, pipelines[s], stats)
                    if s == "jsonl":
                        count_lines(out, a.items)
                    rates[(name, s)].append(v)
                    line.append(f"{name}/{s} {v / 1e6:.3f}M")
                v = run_python(a.python, peer, a.items, a.workers, s, out)
                if s == "jsonl":
                    count_lines(out, a.items)
                rates[("python", s)].append(v)
                line.append(f"python/{s} {v / 1e6:.3f}M")
            after = loadavg()
            loads.append((before, after))
            print(f"run {r + 1}: " + "  ".join(line) + f"  items/s (load {before} -> {after})")

        med = {k: statistics.median(v) for k, v in rates.items()}
        print(f"medians of {a.runs} runs:")
        summary = {"items": a.items, "workers": a.workers, "threads": a.threads, "runs": a.runs,
                   "load": loads, "sinks": {}}
        for s in sinks:
            parts = [f"{name} {med[(name, s)] / 1e6:.3f}M" for name, _ in programs]
            parts.append(f"python {med[('python', s)] / 1e6:.3f}M")
            ratio = med[("sluice", s)] / med[("python", s)]
            extra = ""
            entry = {n: med[(n, s)] for n, _ in programs + [("python", None)]}
            entry["sluice_over_python"] = ratio
            if a.baseline:
                b = med[("sluice", s)] / med[("baseline", s)]
                extra = f", {b:.2f}x the baseline"
                entry["sluice_over_baseline"] = b
            summary["sinks"][s] = entry
            print(f"  {s:5}: " + "  ".join(parts) + f" items/s; sluice {ratio:.2f}x python{extra}")
        if a.json:
            print(json.dumps(summary))


if __name__ == "__main__":
    main()
