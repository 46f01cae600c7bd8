#!/usr/bin/env bash
# Regenerates the generated part of the docs: the stage reference in
# docs/reference.md (between the STAGES markers) from the registry's schemas,
# `sluice stages --markdown`. tests/core/check_docs.py fails when it is out of
# date.   SLUICE_BIN=build/cli/sluice scripts/gen-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SLUICE_BIN:-build/cli/sluice}
"$bin" stages --markdown > /tmp/sluice-stages.$$.md
python3 - /tmp/sluice-stages.$$.md <<'PY'
import sys
sys.path.insert(0, "tests/core")
from readme_parts import render, REFERENCE
text = open(REFERENCE).read()
open(REFERENCE, "w").write(render(text, open(sys.argv[1]).read()))
PY
rm -f /tmp/sluice-stages.$$.md
