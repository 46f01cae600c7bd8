#!/usr/bin/python3
"""Keeps the docs true:
- README.md is what a newcomer reads in two minutes (at most about 250 lines);
- every relative link in README.md and docs/*.md resolves, anchors included;
- docs/reference.md's stage reference matches the registry's schemas;
- every flag of every command (`sluice --help`, `sluice CMD --help`) is
  documented in README.md or docs/*.md, and every command's --help carries an
  example;
- every example pipeline under pipelines/ and every whole pipeline in the
  README (a yaml block with `producers:`) passes `sluice check`."""
import glob, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(__file__))
from readme_parts import render, REFERENCE

bin_ = os.environ["SLUICE_BIN"]
src = os.environ["SLUICE_SOURCE_DIR"]
failures = []
README_MAX_LINES = 260


def run(*args):
    return subprocess.run([bin_, *args], capture_output=True, text=True)


readme = open(os.path.join(src, "README.md")).read()
if readme.count("\n") > README_MAX_LINES:
    failures.append(f"README.md has {readme.count(chr(10))} lines; keep it under {README_MAX_LINES}")

# The stage reference.
ref = subprocess.run([bin_, "stages", "--markdown"], capture_output=True, text=True, check=True).stdout
reference = open(REFERENCE).read()
if render(reference, ref) != reference:
    failures.append("docs/reference.md is out of date: run scripts/gen-docs.sh")


# Links. GitHub's heading anchors: lower case, punctuation dropped, spaces to '-'.
def slug(heading):
    h = re.sub(r"[`*_]", "", heading.strip().lower())
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(path):
    text = re.sub(r"```.*?```", "", open(path).read(), flags=re.S)
    seen, out = {}, set()
    for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        seen[s] = n + 1
    return out


docs = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
links = 0
for doc in docs:
    text = re.sub(r"```.*?```", "", open(doc).read(), flags=re.S)
    for m in re.finditer(r"\[[^\]]*\]\(([^)\s]+)\)", text):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        links += 1
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        where = f"{os.path.relpath(doc, src)}: link '{target}'"
        if not os.path.exists(full):
            failures.append(f"{where}: {os.path.relpath(full, src)} does not exist")
        elif anchor and full.endswith(".md") and anchor not in anchors(full):
            failures.append(f"{where}: no heading with anchor #{anchor}")
print(f"ok: {links} links")

# Flags and examples of every command.
documented = "\n".join(open(d).read() for d in docs)
top = run("--help").stdout
commands = re.findall(r"^  ([a-z][a-z-]*)\s{2,}", top.split("Subcommands:")[1], flags=re.M)
if not commands:
    failures.append("no subcommands found in `sluice --help`")
for flag in sorted(set(re.findall(r"(--[a-z][a-z0-9-]*)", top.split("Subcommands:")[0]))):
    if flag not in ("--help",) and f"`{flag}" not in documented and f" {flag}" not in documented:
        failures.append(f"`sluice {flag}` is not documented in README.md or docs/")
for cmd in commands:
    h = run(cmd, "--help").stdout
    if "Example" not in h:
        failures.append(f"`sluice {cmd} --help` has no example")
    for flag in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", h.split("Example")[0]))):
        if flag == "--help":
            continue
        if not re.search(r"[`\s\[(]" + re.escape(flag) + r"(?![\w-])", documented):
            failures.append(f"`sluice {cmd} {flag}` is not documented in README.md or docs/")
print(f"ok: flags of {', '.join(commands)}")

# Example pipelines.
for path in sorted(glob.glob(os.path.join(src, "pipelines", "*.yaml"))):
    r = run("check", path)
    if r.returncode != 0:
        failures.append(f"sluice check {path} failed:\n{r.stderr}")
    else:
        print(f"ok: {os.path.basename(path)}")

# The README's whole pipelines, checked as if they sat in pipelines/ (their
# relative paths are written from there): a scratch tree whose other
# directories are links to the source's.
scratch = tempfile.mkdtemp(prefix="sluice-docs-")
try:
    os.mkdir(os.path.join(scratch, "pipelines"))
    for name in os.listdir(src):
        if name != "pipelines":
            os.symlink(os.path.join(src, name), os.path.join(scratch, name))
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    for i, block in enumerate(b for b in blocks if re.search(r"^producers:", b, flags=re.M)):
        path = os.path.join(scratch, "pipelines", f"readme-{i}.yaml")
        open(path, "w").write(block)
        r = run("check", path)
        if r.returncode != 0:
            failures.append(f"README.md's pipeline #{i + 1} fails `sluice check`:\n{r.stderr}")
        else:
            print(f"ok: README pipeline #{i + 1}")
finally:
    shutil.rmtree(scratch)

for f in failures:
    print("FAIL:", f, file=sys.stderr)
sys.exit(1 if failures else 0)
