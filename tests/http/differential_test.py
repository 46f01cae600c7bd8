#!/usr/bin/python3
"""Differential test of sluice's http consumer against curl, on real servers.

Starts, on free 127.0.0.1 ports with private configs under one temporary
directory: nginx, Apache httpd and lighttpd (each also over TLS, with a
private CA), python's http.server, httpbin twice (Debian's python3-httpbin
under werkzeug's threads and under gunicorn's sync workers) and sluice's own
origin (`sluice serve`). Generates about 1,200 URLs (bodies of many sizes,
odd file names and query strings, text the servers compress, redirects of
every kind, statuses and 404s), fetches all of them with ONE `sluice run` (a
`list` producer, the http consumer, a jsonl and a files sink) and with curl
(`curl --compressed -L`) in the same test, and compares per URL: the status,
the final URL and the SHA-256 of the body. A second sluice run does the same
for every non-hostile case (expected kind `ok`) of the origin's hostile
matrix (`/hostile/<case>`, docs/origin.md).

Every difference must be listed in KNOWN below with its reason. The test
fails on a difference not listed, on a listed one that changed shape, and on
a listed one that no longer occurs (so the table stays true: delete the
entry). Entries of kind "BUG" are sluice's fault and wait for a fix.

Both clients send the same request headers (User-Agent, Accept, and
Accept-Encoding: gzip, deflate, br), so a server that echoes the request
(httpbin's /gzip, /headers, /anything) answers both alike, and a server that
picks an encoding picks the same one for both.

Environment: SLUICE_BIN (the sluice program, required), SLUICE_SOURCE_DIR
(default: this checkout), CURL (default: curl), SLUICE_KEEP_TEMP=1 (keep the
temporary directory), SLUICE_DIFF_ONLY=label,label (only those servers).
`differential_test.py --serve` starts the servers, writes both pipelines and
the curl command and waits for Ctrl-C, to reproduce a difference by hand.
Run it with `ctest --test-dir build -R http_differential`.
"""
import atexit
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import random
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = Path(os.environ.get("SLUICE_SOURCE_DIR", HERE.parent.parent))
PEERS = SOURCE / "tests" / "peers"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python: it has httpbin, werkzeug and gunicorn
CURL = os.environ.get("CURL", "curl")
USER_AGENT = "sluice-differential/1"
ACCEPT_ENCODING = "gzip, deflate, br"
CLIENT_PARALLEL = 8
DEADLINE = time.monotonic() + 100  # every wait stops by then (ctest TIMEOUT is 150)

SERVERS = ["nginx", "nginx-tls", "apache", "apache-tls", "lighttpd", "lighttpd-tls",
           "http.server", "httpbin", "httpbin-gunicorn", "origin", "origin-hostile"]
FILE_SERVERS = SERVERS[:7]
HTTPBINS = ("httpbin", "httpbin-gunicorn")


# --------------------------------------------------------------------------
# The documented differences: `servers` ("*" for all) and the URL `template`
# (the server's own base URL written {S}, another's {nginx}, {apache}, ...)
# select the URLs; `fields` are those that differ (status, final_url, body).
# Kinds: "curl" (curl's behaviour, not a choice of sluice's), "design" (sluice
# does what docs/http.md says), "config" (the two tools' defaults differ),
# "equivalent" (the same thing written two ways), "BUG" (sluice's fault).
# --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Known:
    servers: tuple
    template: str
    fields: tuple
    kind: str
    reason: str

    def matches(self, label, template):
        return template == self.template and (self.servers == ("*",) or label in self.servers)


KNOWN = [
    Known(("*",), "{S}/d/names/café.txt", ("status", "body"), "design",
          "a URL with raw (not percent-encoded) UTF-8: sluice refuses it as bad_url "
          "(docs/http.md: characters a URL cannot hold); curl percent-encodes the bytes and "
          "fetches the file. (A raw space is refused by both.)"),
    Known(("*",), "{S}/d/sizes/size-100.bin?", ("final_url",), "curl",
          "an empty query: curl drops the '?' from the URL it requests and reports; sluice "
          "requests and reports the URL as given. The same file is served."),
    Known(("*",), "{S}/d/./sizes/../sizes/size-101.bin", ("final_url",), "curl",
          "dot segments in the item's URL: curl removes them before the request (RFC 3986 "
          "5.2.4) and reports the cleaned URL; sluice sends the path as given and the server "
          "resolves it to the same file."),
    Known(HTTPBINS, "{S}/stream/3", ("body",), "equivalent",
          "httpbin's /stream echoes the request headers in the order they arrived (its /headers "
          "sorts them); sluice sends its Accept after Accept-Encoding, curl before. Header "
          "order carries no meaning (RFC 9110 5.3)."),
    Known(HTTPBINS, "{S}/status/305", ("status", "final_url", "body"), "design",
          "curl -L follows the Location of a 305 (Use Proxy) like any 3xx; sluice follows only "
          "301, 302, 303, 307 and 308 (docs/http.md, Redirects) and returns the 305."),
    Known(HTTPBINS, "{S}/redirect/12", ("status", "final_url", "body"), "config",
          "12 hops: more than sluice's default `redirects: 10` (too_many_redirects), fewer than "
          "curl's default --max-redirs 50."),
    Known(("origin-hostile",), "{S}/hostile/gzip-multi-member", ("body",), "curl",
          "two gzip members back to back: curl 7.88 decodes the first and then fails (exit 23); "
          "sluice decodes both (100,000 bytes), as gzip -d does (RFC 1952 2.2)."),
    Known(("origin-hostile",), "{S}/hostile/unknown-coding", ("body",), "curl",
          "Content-Encoding: zstd over bytes that are not zstd: this curl (built with zstd) "
          "decodes it although it did not ask for zstd, and fails (exit 61); sluice does not "
          "decode zstd and passes the body through as docs/origin.md says."),
    Known(("origin-hostile",), "{S}/hostile/redirect-utf8", ("final_url",), "equivalent",
          "Location with raw UTF-8 (/item/café): both percent-encode it, curl with lowercase "
          "hex (%c3%a9), sluice with uppercase (%C3%A9). The same URL (RFC 3986 2.1) and body."),
]


# --------------------------------------------------------------------------
# Cleanup: every server is stopped on every way out.
# --------------------------------------------------------------------------
_stops = []


def _stop_all():
    while _stops:
        label, stop = _stops.pop()
        try:
            stop()
        except Exception as e:  # keep stopping the others
            print(f"warning: stopping {label}: {e}", file=sys.stderr)


atexit.register(_stop_all)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def remaining(cap):
    return max(1.0, min(cap, DEADLINE - time.monotonic()))


def run_fixture(script, *args, timeout=None):
    r = subprocess.run(["bash", str(PEERS / script), *args], capture_output=True, text=True,
                       timeout=timeout or remaining(30), env={**os.environ, "PYTHON": SYSTEM_PYTHON})
    if r.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout.strip()


def start_fixture(label, script, dir_, *extra):
    # Registered before the start: a start that fails half way is stopped too.
    _stops.append((label, lambda: run_fixture(script, "stop", str(dir_), timeout=20)))
    return int(run_fixture(script, "start", str(dir_), *extra).splitlines()[-1])


def start_process(label, argv, first_line_re, log):
    """Starts a server that prints its address on its first stdout line."""
    logf = open(log, "wb")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf)

    def stop():
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        logf.close()

    _stops.append((label, stop))
    end = time.monotonic() + 15
    line = b""
    while time.monotonic() < end and not line.endswith(b"\n"):
        ready, _, _ = select.select([p.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
        elif p.poll() is not None:
            break
    m = re.search(first_line_re, line.decode(errors="replace"))
    if not m:
        raise RuntimeError(f"{label} did not start (stdout {line!r}); see {log}")
    return m


# --------------------------------------------------------------------------
# The static site every file server serves (under /d/).
# --------------------------------------------------------------------------
BIN_SIZES = [0, 1, 2, 3, 7, 10, 99, 100, 101, 127, 128, 255, 256, 511, 512, 1000, 1023, 1024,
             1025, 1460, 1461, 4095, 4096, 4097, 8191, 8192, 8193, 16383, 16384, 16385, 65535,
             65536, 65537, 99999, 102400, 262145, 1000000, 1048575, 1048576, 1048577,
             2 * 1048576 + 3, 3 * 1048576 + 7]
TEXT_SIZES = [0, 1, 2, 20, 100, 1000, 4096, 10000, 65536, 100000, 1048576, 1048577, 3000001]
# Served as text/html: Apache and lighttpd compress it with br, the .txt
# files with gzip (their fixtures); nginx gzips both.
HTML_SIZES = [0, 1, 1000, 65536, 1048577, 3000001]

NAMES = [
    "with space.txt", "two  spaces .txt", "plus+sign.txt", "semi;colon.txt", "100%.txt",
    "percent-%41.txt", "café.txt", "日本語.txt", "emoji-😀.txt", "eq=amp&.txt", "comma,.txt",
    "apos'.txt", "paren(1).txt", "star*.txt", "at@.txt", "colon:.txt", "dollar$.txt",
    "excl!.txt", "tilde~.txt", "hash#.txt", "question?.txt", 'quote".txt', "lt<gt>.txt",
    "backtick`.txt", "caret^.txt", "brace{}.txt", "pipe|.txt", "bracket[].txt",
    "backslash\\.txt", "UPPER.TXT", "no-extension", "dots...txt",
    "long-" + "x" * 200 + ".txt", "é" * 100 + ".txt",
]
DIRS = ["dir", "dir with space", "dïr", "a/b/c", "plus+dir"]


def text_body(n, seed):
    """n bytes of text (UTF-8 words, compressible), the same for the same seed."""
    rng = random.Random(seed)
    words = ["sluice", "pipeline", "fetch", "queue", "worker", "body", "gzip", "brotli",
             "redirect", "status", "curl", "nginx", "apache", "lighttpd", "é", "naïve", "日本"]
    out, size = [], 0
    while size < n:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
        out.append(line)
        size += len(line.encode())
    return "".join(out).encode()[:n]


def write_site(root):
    """The tree under /d/, and /small.bin (the fixtures' redirect target)."""
    d = root / "d"
    (d / "sizes").mkdir(parents=True)
    (d / "names").mkdir()
    for n in BIN_SIZES:
        (d / "sizes" / f"size-{n}.bin").write_bytes(random.Random(n).randbytes(n))
    for n in TEXT_SIZES:
        (d / "sizes" / f"text-{n}.txt").write_bytes(text_body(n, n))
    for n in HTML_SIZES:
        (d / "sizes" / f"html-{n}.html").write_bytes(text_body(n, -n - 1))
    for i, name in enumerate(NAMES):
        (d / "names" / name).write_bytes(text_body(200 + 37 * i, name))
    for i, name in enumerate(DIRS):
        (d / name).mkdir(parents=True)
        (d / name / "index.html").write_bytes(
            b"<!doctype html><title>%d</title>\n" % i + text_body(300, name))
    (d / "page.html").write_bytes(b"<!doctype html>\n" + text_body(5000, "page"))
    (root / "small.bin").write_bytes(bytes(32 + i % 95 for i in range(100)))


# The "minimal" URL form of a name: sub-delims, ':' and '@' raw, the rest
# percent-encoded.
MINIMAL_SAFE = "/!$&'()*+,;=:@~"


def static_templates():
    """URL templates ({S}: the server's base URL) that every file server gets."""
    q = urllib.parse.quote
    t = [f"{{S}}/d/sizes/size-{n}.bin" for n in BIN_SIZES]
    t += [f"{{S}}/d/sizes/text-{n}.txt" for n in TEXT_SIZES]
    t += [f"{{S}}/d/sizes/html-{n}.html" for n in HTML_SIZES]
    for name in NAMES:
        full = q(name, safe="")
        t.append(f"{{S}}/d/names/{full}")
        minimal = q(name, safe=MINIMAL_SAFE)
        if minimal != full:
            t.append(f"{{S}}/d/names/{minimal}")
        if any(ord(c) > 127 for c in name):  # lowercase hex, as some producers write it
            t.append(f"{{S}}/d/names/{re.sub(r'%[0-9A-F]{2}', lambda m: m[0].lower(), full)}")
    # Names as a careless producer writes them: raw, not percent-encoded.
    t += ["{S}/d/names/with space.txt", "{S}/d/names/café.txt"]
    for name in DIRS:
        enc = q(name, safe="/")
        t += [f"{{S}}/d/{enc}", f"{{S}}/d/{enc}/", f"{{S}}/d/{enc}/index.html"]
    t += [
        "{S}/d/dir?x=1",                        # the trailing-slash redirect and the query
        "{S}/d/page.html",
        "{S}/d/sizes/size-100.bin?x=1&y=2",
        "{S}/d/sizes/size-100.bin?q=a%20b+c",
        "{S}/d/sizes/size-100.bin?utf8=%C3%A9&empty=&flag",
        "{S}/d/sizes/size-100.bin?a;b=c",
        "{S}/d/sizes/size-100.bin?long=" + "z" * 2000,
        "{S}/d/sizes/size-100.bin?",
        "{S}/d/sizes/%73ize-100.bin",           # an unreserved byte percent-encoded
        "{S}/d/./sizes/../sizes/size-101.bin",  # dot segments
        "{S}/d//sizes/size-127.bin",            # an empty segment
        "{S}/d/missing.txt",
        "{S}/d/missing/deeper/x.bin",
        "{S}/no%20such%20file",
        "{S}/d/sizes/size-100.bin/extra",
        "{S}/d/dir%2Findex.html",               # an encoded slash
    ]
    return t


# The redirects the nginx, apache and lighttpd fixtures configure.
CONFIG_REDIRECTS = ["{S}/redirect", "{S}/redirect-absolute"]


def httpbin_random_templates():
    """Seeded random bodies: reproducible only under gunicorn (httpbin_serve.py)."""
    t = [f"{{S}}/bytes/{n}?seed={n}" for n in (0, 1, 2, 1000, 4097, 65536, 102400)]
    t += [f"{{S}}/stream-bytes/{n}?seed=7&chunk_size={c}"
          for n, c in ((0, 10), (1, 1), (5000, 100), (102400, 7000))]
    return t


def httpbin_templates():
    enc = lambda u: urllib.parse.quote(u, safe="")
    t = ["{S}/range/26", "{S}/range/1024", "{S}/base64/SGVsbG8gc2x1aWNlCg%3D%3D",
         "{S}/html", "{S}/xml", "{S}/json", "{S}/robots.txt", "{S}/deny", "{S}/encoding/utf8",
         "{S}/image/png", "{S}/image/jpeg", "{S}/image/svg", "{S}/image/webp", "{S}/links/10/3",
         "{S}/drip?numbytes=50&duration=0&delay=0&code=200",
         "{S}/response-headers?Content-Type=text/plain&X-Test=a%20b",
         # Echoes of the request: equal only when both send the same request.
         "{S}/gzip", "{S}/deflate", "{S}/brotli", "{S}/headers", "{S}/user-agent",
         "{S}/get?a=1&b=two%20words&c=%C3%A9", "{S}/anything/x%20y;z?q=1+2",
         "{S}/stream/3", "{S}/cookies/set?k=v", "{S}/basic-auth/u/p"]
    for code in (200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401,
                 402, 403, 404, 405, 406, 409, 410, 418, 429, 451, 500, 501, 502, 503, 504):
        t.append(f"{{S}}/status/{code}")
    t += [f"{{S}}/redirect/{n}" for n in (1, 2, 5, 10, 12)]
    for n in (1, 3, 6):
        t += [f"{{S}}/relative-redirect/{n}", f"{{S}}/absolute-redirect/{n}"]
    targets = ["/range/10", "range/11", "/anything/a%20b", "/anything/caf%C3%A9",
               "/anything/a%2Fb%2Bc%3Bd%40e%7Ef", "{apache}/d/dir%2Findex.html",
               "{nginx}/d/sizes/size-1000.bin", "{nginx-tls}/d/sizes/text-10000.txt",
               "{apache-tls-localhost}/d/names/caf%C3%A9.txt", "//{nginx-hostport}/small.bin",
               "{lighttpd}/redirect", "{apache}/d/dir"]
    t += [f"{{S}}/redirect-to?url={enc(target)}" for target in targets]
    t += [f"{{S}}/redirect-to?url={enc('/range/5')}&status_code={code}"
          for code in (301, 302, 303, 307, 308)]
    return t


def origin_templates():
    t = [f"{{S}}/bytes/{n}" for n in (0, 1, 1000, 1048577)]
    t += ["{S}/chunked/100000?chunk=1000", "{S}/chunked/1?chunk=1", "{S}/until-close/5000",
          "{S}/gzip/0", "{S}/gzip/100000", "{S}/deflate/70000", "{S}/item/x%20y",
          "{S}/redirect/3", "{S}/redirect-relative/3", "{S}/redirect-absolute/3",
          "{S}/redirect/2?status=307", "{S}/redirect/2?status=308", "{S}/status/404",
          "{S}/status/204", "{S}/status/500", "{S}/retry-after/0?status=503",
          f"{{S}}/redirect-to?url={urllib.parse.quote('{nginx}/small.bin', safe='')}"]
    return t


def hostile_ok_templates(origin):
    """The origin's hostile cases whose expected kind is `ok`, from its /hostile."""
    with urllib.request.urlopen(origin + "/hostile", timeout=10) as r:
        table = r.read().decode()
    cases = re.findall(r"^\| `/hostile/([a-z0-9-]+)` \|.*\| `ok` \|$", table, re.M)
    if len(cases) < 10:
        raise RuntimeError(f"cannot read the hostile table from {origin}/hostile")
    return [f"{{S}}/hostile/{c}" for c in cases]


# --------------------------------------------------------------------------
# The servers.
# --------------------------------------------------------------------------
def start_servers(work, sluice):
    """Starts every server; returns the base URL of each (and a few aliases)."""
    run_fixture("make_certs.sh", str(work / "certs"))
    cert, key = work / "certs" / "server.pem", work / "certs" / "server.key"
    site = work / "site"
    write_site(site)

    def docroot(dir_):
        html = dir_ / "html"
        html.mkdir(parents=True, exist_ok=True)
        shutil.copytree(site / "d", html / "d", copy_function=os.link)
        if not (html / "small.bin").exists():
            os.link(site / "small.bin", html / "small.bin")
        return html

    bases = {}
    for label in FILE_SERVERS[:6]:
        script = label.split("-")[0] + "_fixture.sh"
        tls = label.endswith("-tls")
        docroot(work / label)
        port = start_fixture(label, script, work / label, *(["--tls", str(cert), str(key)] if tls else []))
        bases[label] = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    bases["apache-tls-localhost"] = bases["apache-tls"].replace("127.0.0.1", "localhost")
    bases["nginx-hostport"] = bases["nginx"].removeprefix("http://")
    html = docroot(work / "http.server")
    m = start_process("http.server", [SYSTEM_PYTHON, "-u", "-m", "http.server", "0", "--bind",
                                      "127.0.0.1", "--directory", str(html)],
                      r"port (\d+)", work / "http.server" / "log")
    bases["http.server"] = f"http://127.0.0.1:{m[1]}"
    port = start_fixture("httpbin", "httpbin_fixture.sh", work / "httpbin")
    bases["httpbin"] = f"http://127.0.0.1:{port}"
    port = start_fixture("httpbin-gunicorn", "httpbin_fixture.sh", work / "httpbin-gunicorn",
                         "--gunicorn")
    bases["httpbin-gunicorn"] = f"http://127.0.0.1:{port}"
    m = start_process("origin", [sluice, "serve", "--port", "0"], r"(http://\S+)",
                      work / "origin.log")
    bases["origin"] = bases["origin-hostile"] = m[1]
    return bases


def plan(bases, only):
    """[(run, label, template, url)]: the URLs of each server, in two runs."""
    templates = {label: static_templates() + CONFIG_REDIRECTS for label in FILE_SERVERS[:6]}
    templates["http.server"] = static_templates()
    templates["httpbin"] = httpbin_templates()
    templates["httpbin-gunicorn"] = httpbin_templates() + httpbin_random_templates()
    templates["origin"] = origin_templates()
    templates["origin-hostile"] = hostile_ok_templates(bases["origin"])

    def expand(label, template):
        url = template.replace("{S}", bases[label])
        for k, v in bases.items():
            url = url.replace("{" + k + "}", v)
            url = url.replace(urllib.parse.quote("{" + k + "}", safe=""),
                              urllib.parse.quote(v, safe=""))
        return url

    items = []
    for label in SERVERS:
        if not only or label in only:
            run = "hostile" if label == "origin-hostile" else "servers"
            for template in dict.fromkeys(templates[label]):
                items.append((run, label, template, expand(label, template)))
    return items


# --------------------------------------------------------------------------
# The two clients.
# --------------------------------------------------------------------------
def files_sink_path(files_dir, url):
    """Where the files sink (layout: hash) stores the body of `url`."""
    u = urllib.parse.urlsplit(url)
    host = (u.hostname or "").lower()
    if u.port is not None:
        host += f"_{u.port}"
    host = "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else
                   "".join(f"%{b:02X}" for b in c.encode()) for c in host)
    h = hashlib.sha256(url.encode()).hexdigest()
    return files_dir / host / h[:2] / h


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_pipeline(out, name, urls, ca_file):
    consumer = {
        "type": "http", "workers": 8, "per_host": 4,
        "retry": {"attempts": 1},            # curl does not retry either
        "fail_status": [],                   # every status is data, as for curl without --fail
        "user_agent": USER_AGENT,
        "headers": {"Accept": "*/*"},        # what curl sends
        "max_body": "64MiB",
        "tls": {"ca_file": str(ca_file)},
        "timeouts": {"connect": "5s", "header": "10s", "total": "30s"},
    }
    if name == "hostile":
        # A connection per request, as each curl has: /hostile/garbage-later
        # writes its unasked response 100 ms after the real one, and on a
        # reused connection that answers the next request, for sluice and for
        # curl alike (HTTP/1.1 cannot tell them apart). retry_after_max as in
        # pipelines/hostile.yaml: a Retry-After pauses the whole origin, and
        # /hostile/retry-after-far asks for the year 9999.
        consumer["pool"] = {"max_idle": 0}
        consumer["retry"]["retry_after_max"] = "1s"
    pipeline = {
        "name": f"differential-{name}",
        "threads": 2,
        "producers": [{"type": "list", "urls": urls}],
        "consumers": consumer,
        "sinks": [{"type": "jsonl", "path": str(out / "results.jsonl")},
                  {"type": "files", "dir": str(out / "bodies")}],
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pipeline.yaml"
    path.write_text(json.dumps(pipeline, indent=1, ensure_ascii=False))  # JSON is YAML
    return path


def run_sluice(sluice, out, path):
    """`sluice run` of the pipeline; returns {url: (status, final_url, body)} and
    {url: the Content-Encoding of the last response}."""
    r = subprocess.run([sluice, "run", str(path), "--no-progress"], capture_output=True,
                       text=True, timeout=remaining(60))
    # 3: the run completed but some items failed (more than `max_failed:`
    # allows); the failures are data here, compared like the rest.
    if r.returncode not in (0, 3):
        raise RuntimeError(f"sluice run {path} exited {r.returncode}:\n{r.stderr}")
    results, codings = {}, {}
    for line in (out / "results.jsonl").read_text().splitlines():
        rec = json.loads(line)
        url = rec["url"]
        codings[url] = rec.get("headers", {}).get("content-encoding", "")
        if rec.get("error_kind"):
            body = f"error ({rec['error_kind']}: {rec.get('error_message', '')})"
        else:
            f = files_sink_path(out / "bodies", url)
            body = sha256_file(f) if f.exists() else "no body file"
        results[url] = (rec.get("status", 0), rec.get("final_url") or url, body)
    return results, codings


def curl_argv(ca_file):
    return [CURL, "--compressed", "-L", "-s", "-g", "--max-time", "30", "--cacert", str(ca_file),
            "-A", USER_AGENT, "-H", f"Accept-Encoding: {ACCEPT_ENCODING}"]


def run_curl_one(url, dest, ca_file):
    argv = curl_argv(ca_file) + ["-o", str(dest), "-w", "%{http_code} %{url_effective}", url]
    r = subprocess.run(argv, capture_output=True, timeout=remaining(40))
    code, _, final = r.stdout.decode(errors="surrogateescape").partition(" ")
    if r.returncode != 0:
        body = f"error (curl exit {r.returncode})"
    else:  # curl writes no file for an empty body
        body = sha256_file(dest) if dest.exists() else hashlib.sha256(b"").hexdigest()
    return url, (int(code or 0), final, body)


def run_curl(out, urls, ca_file):
    out.mkdir(parents=True)
    pool = concurrent.futures.ThreadPoolExecutor(CLIENT_PARALLEL)
    try:
        jobs = [pool.submit(run_curl_one, u, out / f"{i}.body", ca_file) for i, u in enumerate(urls)]
        return dict(j.result() for j in jobs)
    finally:
        # On a signal or a failure, the queued curls do not run.
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------
# The comparison.
# --------------------------------------------------------------------------
def differing(s, c):
    """The fields in which sluice's (status, final_url, body) and curl's differ."""
    diff = []
    if s[0] != c[0]:
        diff.append("status")
    if s[1] != c[1]:
        diff.append("final_url")
    # Two failures are alike, whatever each tool calls them.
    if s[2] != c[2] and not (s[2].startswith("error") and c[2].startswith("error")):
        diff.append("body")
    return tuple(diff)


def compare(items, sluice_res, curl_res, known, check_unused=False):
    """items: [(run, label, template, url)]. Returns (rows, problems, documented)."""
    rows, problems, documented = {}, [], []
    for _, label, template, url in items:
        row = rows.setdefault(label, {"urls": 0, "equal": 0, "documented": 0, "failed": 0})
        row["urls"] += 1
        s, c = sluice_res.get(url), curl_res.get(url)
        if s is None or c is None:
            problems.append(f"[{label}] {url}: no result from {'sluice' if s is None else 'curl'}")
            row["failed"] += 1
            continue
        diff = differing(s, c)
        k = next((k for k in known if k.matches(label, template)), None)
        if not diff and k is None:
            row["equal"] += 1
        elif k is not None and diff == k.fields:
            row["documented"] += 1
            documented.append((label, template, k, s, c))
        else:
            row["failed"] += 1
            if not diff:
                what = "the documented difference no longer occurs (delete its KNOWN entry)"
            else:
                what = f"differs in {', '.join(diff)}" + (
                    f" (KNOWN says {', '.join(k.fields)})" if k else " (not in KNOWN)")
            problems.append(f"[{label}] {template}: {what}\n"
                            f"      url:    {url}\n"
                            f"      sluice: status {s[0]}, final {s[1]}, body {s[2]}\n"
                            f"      curl:   status {c[0]}, final {c[1]}, body {c[2]}")
    if check_unused:
        for k in known:
            if not any(k.matches(label, t) for _, label, t, _ in items):
                problems.append(f"KNOWN entry {k.servers} {k.template} matches no URL (delete it)")
    return rows, problems, documented


def print_summary(rows, documented, codings):
    print(f"\n{'server':<18}{'URLs':>6}{'equal':>7}{'documented':>12}{'failed':>8}  codings")
    tot = {"urls": 0, "equal": 0, "documented": 0, "failed": 0}
    for label, r in rows.items():
        seen = ", ".join(f"{c} {n}" for c, n in sorted(codings.get(label, {}).items()))
        print(f"{label:<18}{r['urls']:>6}{r['equal']:>7}{r['documented']:>12}{r['failed']:>8}  {seen}")
        for k in tot:
            tot[k] += r[k]
    print(f"{'total':<18}{tot['urls']:>6}{tot['equal']:>7}{tot['documented']:>12}{tot['failed']:>8}")
    by_entry = {}
    for label, template, k, s, c in documented:
        by_entry.setdefault(k, []).append((label, s, c))
    if by_entry:
        print("\ndocumented differences (sluice vs curl: status final_url body):")
    for k, hits in by_entry.items():
        _, s, c = hits[0]
        print(f"  [{k.kind}] {k.template} on {', '.join(h[0] for h in hits)}: "
              f"{', '.join(k.fields)}\n"
              f"      sluice: {s[0]} {s[1]} {s[2][:72]}\n"
              f"      curl:   {c[0]} {c[1]} {c[2][:72]}\n"
              f"      why: {k.reason}")
    return tot


# --------------------------------------------------------------------------
def self_check(items, sluice_res, curl_res, documented):
    """The comparison must be able to fail: a flipped digest, a removed entry."""
    problems = []
    equal = next((i for i in items if not differing(sluice_res[i[3]], curl_res[i[3]])), None)
    if equal:
        flipped = dict(curl_res)
        c = flipped[equal[3]]
        flipped[equal[3]] = (c[0], c[1], "0" * 64)
        if not compare([equal], sluice_res, flipped, KNOWN)[1]:
            problems.append("self-check: a changed body digest went unnoticed")
    if documented:
        label, template = documented[0][:2]
        item = next(i for i in items if i[1] == label and i[2] == template)
        if not compare([item], sluice_res, curl_res, [])[1]:
            problems.append("self-check: a difference without a KNOWN entry went unnoticed")
    return problems


def main():
    sluice = os.environ.get("SLUICE_BIN")
    if not sluice or not os.access(sluice, os.X_OK):
        print("SLUICE_BIN must name the sluice program", file=sys.stderr)
        return 2
    serve_only = "--serve" in sys.argv[1:]
    only = set(filter(None, os.environ.get("SLUICE_DIFF_ONLY", "").split(",")))
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="sluice-differential-"))
    work.chmod(0o755)  # Apache's workers run as nobody when the test runs as root
    keep = bool(os.environ.get("SLUICE_KEEP_TEMP")) or serve_only
    _stops.insert(0, ("temp dir", lambda: None if keep else shutil.rmtree(work, True)))
    if keep:
        print(f"keeping {work}")

    bases = start_servers(work, sluice)
    print(f"servers up in {time.monotonic() - t0:.1f}s: " +
          ", ".join(f"{k} {bases[k]}" for k in SERVERS[:-1]))
    items = plan(bases, only)
    ca = work / "certs" / "ca.pem"
    runs = {run: list(dict.fromkeys(u for r, _, _, u in items if r == run))
            for run in ("servers", "hostile")}
    paths = {run: write_pipeline(work / run, run, urls, ca) for run, urls in runs.items() if urls}

    if serve_only:
        for run, path in paths.items():
            print(f"{run}: {sluice} run {path}")
        print("curl: " + shlex.join(curl_argv(ca)) + " -o FILE -w '%{http_code} %{url_effective}' URL")
        print("Ctrl-C stops the servers")
        while True:
            time.sleep(3600)

    sluice_res, curl_res, coding_of = {}, {}, {}
    for run, path in paths.items():
        t1 = time.monotonic()
        res, cod = run_sluice(sluice, work / run, path)
        sluice_res.update(res)
        coding_of.update(cod)
        t2 = time.monotonic()
        curl_res.update(run_curl(work / f"{run}-curl", runs[run], ca))
        print(f"{run}: {len(runs[run])} URLs, sluice {t2 - t1:.1f}s, curl {time.monotonic() - t2:.1f}s")

    known = KNOWN if not only else [k for k in KNOWN if k.servers == ("*",) or set(k.servers) & only]
    rows, problems, documented = compare(items, sluice_res, curl_res, known, not only)
    # Which Content-Encodings the responses had (of the last hop, as sluice saw them).
    codings = {}
    for _, label, _, url in items:
        if coding_of.get(url):
            per = codings.setdefault(label, {})
            per[coding_of[url]] = per.get(coding_of[url], 0) + 1
    tot = print_summary(rows, documented, codings)
    problems += self_check(items, sluice_res, curl_res, documented)

    print(f"\n{tot['urls']} URLs in {time.monotonic() - t0:.1f}s")
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
    print(f"{tot['equal'] + tot['documented']} passed, {tot['failed']} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        _stop_all()
