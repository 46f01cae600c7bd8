#!/usr/bin/env python3
"""`sluice check` on every broken pipeline in tests/core/check_corpus/.

Each NAME.yaml has a NAME.expected holding the exact stderr (diagnostics and
the count line). `check` runs in the corpus directory with the file's bare
name, so the expected text has relative paths and the test passes wherever
the tree is. Fails on a .yaml without .expected (and the reverse), on any
stderr difference, on anything on stdout, and on an exit code other than 2.
SLUICE_CORPUS_UPDATE=1 rewrites the .expected files (review the diff)."""
import os
import pathlib
import subprocess
import sys

corpus = pathlib.Path(__file__).resolve().parent / "check_corpus"
sluice = os.environ["SLUICE_BIN"]
update = os.environ.get("SLUICE_CORPUS_UPDATE") == "1"
env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_CORPUS_NEVER")}

failures = []
files = sorted(corpus.glob("*.yaml"))
if len(files) < 30:
    failures.append(f"only {len(files)} corpus files (want at least 30)")
for extra in sorted(corpus.glob("*.expected")):
    if not extra.with_suffix(".yaml").exists():
        failures.append(f"{extra.name}: no matching .yaml")
for f in files:
    expected = f.with_suffix(".expected")
    r = subprocess.run([sluice, "check", f.name], cwd=corpus, env=env, capture_output=True,
                       text=True, timeout=60)
    if update:
        expected.write_text(r.stderr)
    if not expected.exists():
        failures.append(f"{f.name}: no {expected.name}")
        continue
    if r.returncode != 2:
        failures.append(f"{f.name}: exit code {r.returncode}, want 2")
    if r.stdout:
        failures.append(f"{f.name}: unexpected stdout {r.stdout!r}")
    want = expected.read_text()
    if r.stderr != want:
        failures.append(f"{f.name}: stderr differs\n--- want\n{want}--- got\n{r.stderr}")
    if not want.strip():
        failures.append(f"{f.name}: empty {expected.name}")
for msg in failures:
    print(msg)
print(f"{len(files)} corpus files, {len(failures)} failures")
sys.exit(1 if failures else 0)
