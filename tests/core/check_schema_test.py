#!/usr/bin/env python3
"""`sluice schema` is a valid JSON Schema (draft 2020-12) that accepts every
pipelines/*.yaml and rejects broken ones (unknown key, wrong type, bad enum)."""
import json
import os
import pathlib
import subprocess
import sys

import jsonschema
import yaml

root = pathlib.Path(os.environ.get("SLUICE_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
# A plugin loaded with --plugin registers into the same registry: its stages
# are in the schema (pipelines/plugin-sitemap.yaml needs the example plugin).
plugin = os.environ.get("SLUICE_EXAMPLE_PLUGIN", "")
args = ["--plugin", plugin] if plugin and os.path.exists(plugin) else []
out = subprocess.run([os.environ["SLUICE_BIN"], *args, "schema"], capture_output=True, text=True,
                     check=True, timeout=60).stdout
schema = json.loads(out)


class Yaml12Loader(yaml.SafeLoader):
    """yaml-cpp reads `on`, `off`, `yes`, `no` as text (the loader decides what a
    boolean option accepts); PyYAML's YAML 1.1 would make them booleans."""


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", __import__("re").compile(
    r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
failures = []
files = sorted((root / "pipelines").glob("*.yaml"))
for f in files:
    if f.name == "plugin-sitemap.yaml" and not args:
        print(f"{f.name}: skipped (no SLUICE_EXAMPLE_PLUGIN)")
        continue
    errs = list(v.iter_errors(yaml.load(f.read_text(), Loader=Yaml12Loader)))
    if errs:
        failures.append(f"{f.name}: rejected: {errs[0].message}")
base = {"producers": [{"type": "list", "urls": ["http://127.0.0.1:1/"]}],
        "consumers": {"type": "http", "workers": 4}, "sinks": [{"type": "stdout"}]}
if list(v.iter_errors(base)):
    failures.append("the base pipeline is rejected")
broken = {
    "unknown top-level key": {**base, "threds": 2},
    "unknown stage option": {**base, "consumers": {"type": "http", "per_hots": 1}},
    "wrong type": {**base, "threads": "many"},
    "bad enum": {**base, "dedup": "urls"},
    "unknown stage type": {**base, "sinks": [{"type": "nowhere"}]},
    "bad duration": {**base, "consumers": {"type": "http", "dns_ttl": "forever"}},
    "missing required": {**base, "sinks": [{"type": "jsonl"}]},
    "below minimum": {**base, "consumers": {"type": "http", "workers": 0}},
    "cookies neither boolean nor mapping": {**base, "consumers": {"type": "http", "cookies": 5}},
    "cookies unknown key": {**base, "consumers": {"type": "http", "cookies": {"fil": "x"}}},
}
for name, doc in broken.items():
    if not list(v.iter_errors(doc)):
        failures.append(f"{name}: accepted")
if not list(v.iter_errors({**base, "threads": "${T}"})) == []:
    failures.append("a ${VAR} value is rejected")
for cookies in (True, False, {"file": "jar.txt"}, {}):  # a boolean or a mapping (anyOf)
    if list(v.iter_errors({**base, "consumers": {"type": "http", "cookies": cookies}})):
        failures.append(f"cookies: {cookies!r} is rejected")
for msg in failures:
    print(msg)
print(f"{len(files)} pipelines, {len(broken)} broken documents, {len(failures)} failures")
sys.exit(1 if failures else 0)
