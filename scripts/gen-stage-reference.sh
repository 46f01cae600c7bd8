#!/usr/bin/env bash
# Regenerates the stage reference in README.md (between the STAGES markers)
# from the registry's schemas: `sluice stages --markdown`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SLUICE_BIN:-build/cli/sluice}
ref=$("$bin" stages --markdown)
python3 - "$ref" <<'PY'
import sys, re
ref = sys.argv[1]
text = open("README.md").read()
start, end = "<!-- STAGES:BEGIN -->", "<!-- STAGES:END -->"
i, j = text.index(start), text.index(end)
open("README.md", "w").write(text[:i + len(start)] + "\n" + ref.rstrip() + "\n" + text[j:])
PY
