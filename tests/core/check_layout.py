#!/usr/bin/env python3
"""The tree's layout rules (issue 10), checked on every test run:

1. no file in stages/http/ over 450 lines;
2. no error-kind name as a string literal in framework/, stages/, cli/ or
   examples/ outside the one table (framework/src/fetch_error.cpp): code
   names kinds by fetch_errc; the few literals that are the same word but
   not an error kind (an option called `connect`) are listed below with why;
3. no function over 120 lines in framework/, stages/ and cli/, by
   clang-tidy's readability-function-size over the build's
   compile_commands.json (SLUICE_BINARY_DIR).

Exits 1 with one line per violation.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SRC = Path(os.environ.get("SLUICE_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("SLUICE_BINARY_DIR", SRC / "build"))
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 120

# (file, literal): the same word as an error kind, but something else.
NOT_ERROR_KINDS = {
    ("stages/http/http_config.cpp", "connect"): "the option timeouts.connect",
    ("stages/http/http_config.cpp", "tls"): "the option object tls",
    ("stages/http/http_consumer.cpp", "tls"): "the option object tls (check_files)",
    ("stages/origin/origin_service.cpp", "tls"): "the origin's option tls",
    ("stages/http/body_sink.cpp", "write"): "the verb of 'cannot write FILE'",
    ("cli/bench.cpp", "cancelled"): "the bench trace's event kind",
    ("stages/core/request_producers.cpp", "body_file"): "the record field and CSV column body_file",
    ("stages/http/http_config.cpp", "robots"): "the option robots (ignore/obey)",
    ("stages/http/http_schema.cpp", "connect"): "the option timeouts.connect",
    ("stages/http/http_schema.cpp", "tls"): "the option object tls",
    ("stages/http/http_schema.cpp", "robots"): "the option robots (ignore/obey)",
    ("stages/origin/origin_service.cpp", "robots"): "the origin's option robots (its robots.txt)",
}

problems = []


def tracked(*patterns):
    out = subprocess.run(["git", "-C", str(SRC), "ls-files", *patterns], check=True,
                         capture_output=True, text=True).stdout.split()
    return [p for p in out if (SRC / p).is_file()]


def check_file_sizes():
    for p in tracked("stages/http/"):
        n = sum(1 for _ in open(SRC / p, encoding="utf-8"))
        if n > MAX_FILE_LINES:
            problems.append(f"{p}: {n} lines (at most {MAX_FILE_LINES})")


def strip_comments(line):
    # Good enough for this tree: no '//' inside the literals searched for.
    return line.split("//", 1)[0]


def check_error_kind_literals():
    table = (SRC / "framework/src/fetch_error.cpp").read_text(encoding="utf-8")
    kinds = re.findall(r'\{E::([a-z_]+), "([a-z_]+)"', table)
    if len(kinds) < 20:
        problems.append(f"fetch_error.cpp: found only {len(kinds)} rows of the table")
        return
    names = {name for _, name in kinds}
    files = tracked("framework/*.cpp", "framework/*.hpp", "stages/*.cpp", "stages/*.hpp",
                    "cli/*.cpp", "cli/*.hpp", "examples/*.cpp", "examples/*.hpp")
    for p in files:
        if p == "framework/src/fetch_error.cpp":
            continue
        for no, line in enumerate(open(SRC / p, encoding="utf-8"), 1):
            for lit in re.findall(r'"([a-z_]+)"', strip_comments(line)):
                if lit in names and (p, lit) not in NOT_ERROR_KINDS:
                    problems.append(f'{p}:{no}: error kind "{lit}" as a literal '
                                    f"(use fetch_errc::{lit})")


def check_function_sizes():
    db = BUILD / "compile_commands.json"
    tidy = shutil.which("clang-tidy") or shutil.which("clang-tidy-14")
    if not db.exists() or tidy is None:
        problems.append(f"cannot check function sizes: need {db} and clang-tidy")
        return
    units = sorted({e["file"] for e in json.loads(db.read_text())
                    if re.search(r"/(framework|stages|cli)/", e["file"])})
    config = ("{CheckOptions: [{key: readability-function-size.LineThreshold, "
              f"value: {MAX_FUNCTION_LINES}}}]}}")
    header_filter = f"^{re.escape(str(SRC))}/(framework|stages|cli)/"

    def tidy_one(f):
        r = subprocess.run([tidy, "-p", str(BUILD), "--quiet",
                            "--checks=-*,readability-function-size", f"--config={config}",
                            f"--header-filter={header_filter}", f],
                           capture_output=True, text=True)
        return [l for l in r.stdout.splitlines() if "readability-function-size" in l]

    jobs = int(os.environ.get("SLUICE_TEST_JOBS", "2"))
    seen = set()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for lines in pool.map(tidy_one, units):
            for l in lines:
                if l not in seen:
                    seen.add(l)
                    problems.append(l.replace(str(SRC) + "/", ""))
    if not units:
        problems.append("compile_commands.json lists no framework/stages/cli sources")


check_file_sizes()
check_error_kind_literals()
if "--no-functions" not in sys.argv:
    check_function_sizes()
for p in problems:
    print(p)
print(f"check_layout: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
