"""The generated parts of README.md: the stage reference and the guides
(docs/*.md). Shared by scripts/gen-readme.sh and tests/core/check_docs.py."""
import os, re

GUIDES = ["http.md", "origin.md", "sinks.md", "plugins.md", "bench.md"]
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def guides():
    parts = []
    for name in GUIDES:
        path = os.path.join(ROOT, "docs", name)
        if not os.path.exists(path):
            continue
        body = open(path).read().strip()
        # Demote headings one level so each guide nests under "Guides".
        body = re.sub(r"^(#{1,5}) ", lambda m: "#" + m.group(1) + " ", body, flags=re.M)
        parts.append(f"<!-- from docs/{name} -->\n{body}")
    return "\n\n".join(parts)


def replace(text, marker, content):
    begin, end = f"<!-- {marker}:BEGIN -->", f"<!-- {marker}:END -->"
    i, j = text.index(begin), text.index(end)
    return text[: i + len(begin)] + "\n" + content.strip() + "\n" + text[j:]


def render(text, stages_markdown):
    text = replace(text, "STAGES", stages_markdown)
    return replace(text, "GUIDES", guides())
