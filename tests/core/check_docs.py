#!/usr/bin/python3
"""Keeps the README true: its stage reference matches the registry's schemas,
its guides match docs/*.md, and every example pipeline under pipelines/ passes
`sluice check`."""
import glob, os, subprocess, sys

sys.path.insert(0, os.path.dirname(__file__))
from readme_parts import render

bin_ = os.environ["SLUICE_BIN"]
src = os.environ["SLUICE_SOURCE_DIR"]
failures = []

ref = subprocess.run([bin_, "stages", "--markdown"], capture_output=True, text=True, check=True).stdout
readme = open(os.path.join(src, "README.md")).read()
if render(readme, ref) != readme:
    failures.append("README.md is out of date: run scripts/gen-readme.sh")

for path in sorted(glob.glob(os.path.join(src, "pipelines", "*.yaml"))):
    r = subprocess.run([bin_, "check", path], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"sluice check {path} failed:\n{r.stderr}")
    else:
        print(f"ok: {os.path.basename(path)}")

for f in failures:
    print("FAIL:", f, file=sys.stderr)
sys.exit(1 if failures else 0)
