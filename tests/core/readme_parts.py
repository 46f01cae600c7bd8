"""The generated part of the docs: docs/reference.md's stage reference
(between the STAGES markers), from `sluice stages --markdown`. Shared by
scripts/gen-docs.sh and tests/core/check_docs.py."""
import os

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
REFERENCE = os.path.join(ROOT, "docs", "reference.md")


def replace(text, marker, content):
    begin, end = f"<!-- {marker}:BEGIN -->", f"<!-- {marker}:END -->"
    i, j = text.index(begin), text.index(end)
    return text[: i + len(begin)] + "\n" + content.strip() + "\n" + text[j:]


def render(text, stages_markdown):
    return replace(text, "STAGES", stages_markdown)
