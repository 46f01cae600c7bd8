#!/usr/bin/env bash
# Regenerates the generated parts of README.md:
#  - the stage reference (between the STAGES markers) from the registry's
#    schemas: `sluice stages --markdown`;
#  - the guides (between the GUIDES markers) from docs/*.md, headings demoted
#    one level, in a fixed order.
# tests/core/check_docs.py fails when README.md is out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SLUICE_BIN:-build/cli/sluice}
"$bin" stages --markdown > /tmp/sluice-stages.$$.md
python3 - /tmp/sluice-stages.$$.md <<'PY'
import sys
sys.path.insert(0, "tests/core")
from readme_parts import render
text = open("README.md").read()
open("README.md", "w").write(render(text, open(sys.argv[1]).read()))
PY
rm -f /tmp/sluice-stages.$$.md
