#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz harness under tests/fuzz/corpus/.

Run once when a harness or its input format changes; the seeds are
committed. The reader and inflater harnesses take their flags and cut
points from the end of an input, so each seed is the raw bytes followed by
a few control bytes (no cuts, decoding on). brotli seeds need the `brotli`
command (Debian package brotli); without it they are skipped.
"""
import gzip
import os
import shutil
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def brotli(data):
    if not shutil.which("brotli"):
        return None
    return subprocess.run(["brotli", "-c"], input=data, capture_output=True, check=True).stdout


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def chunked(body, sizes=(7, 1, 100)):
    out, i, k = b"", 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        out += b"%x;ext=1\r\n" % n + body[i:i + n] + b"\r\n"
        i += n
        k += 1
    return out + b"0\r\nX-Trailer: t\r\n\r\n"


def reader_seeds():
    body = b"hello world, " * 20
    gz = gzip.compress(body)
    br = brotli(body)
    head = b"HTTP/1.1 200 OK\r\n"
    seeds = {
        "plain": head + b"Content-Length: %d\r\nETag: \"x\"\r\n\r\n" % len(body) + body,
        "chunked": head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body),
        "gzip": head + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gz) + gz,
        "gzip-chunked": head + b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(gz, (5, 50)),
        "deflate": head + b"Content-Encoding: deflate\r\nContent-Length: %d\r\n\r\n"
        % len(zlib.compress(body)) + zlib.compress(body),
        "gzip-gzip": head + b"Content-Encoding: gzip, gzip\r\nContent-Length: %d\r\n\r\n"
        % len(gzip.compress(gz)) + gzip.compress(gz),
        "multi-member": head + b"Content-Encoding: gzip\r\n\r\n" + gz + gz,
        "close-delimited": head + b"Connection: close\r\n\r\n" + body,
        "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        + head + b"Content-Length: 2\r\n\r\nok",
        "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        "bare-lf": b"HTTP/1.1 200\nContent-Length: 2\nX-Custom: a\n\nok",
        "redirect": b"HTTP/1.1 302 Found\r\nLocation: /a b/\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
        "retry-after": b"HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2099 07:28:00 GMT\r\n"
        b"Content-Length: 0\r\n\r\n",
        "no-content": b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        "two-lengths": head + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "http10": b"HTTP/1.0 200 OK\r\n\r\n" + body,
        "folded": head + b"X-Custom: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
        "trailing-garbage": head + b"Content-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
    }
    if br is not None:
        seeds["brotli"] = head + b"Content-Encoding: br\r\nContent-Length: %d\r\n\r\n" % len(br) + br
        seeds["br-gzip"] = (head + b"Content-Encoding: br, gzip\r\nContent-Length: %d\r\n\r\n"
                            % len(gzip.compress(br)) + gzip.compress(br))
    for name, wire in seeds.items():
        # control bytes, read from the end: no cuts, decode on, not HEAD
        write("reader", name, wire + b"\x00\x01\x00")
        # the same cut in two places
        write("reader", name + "-cut", wire + b"\x00\x10\x00\x30\x02\x01\x00")


def inflater_seeds():
    body = b"sluice " * 300
    br = brotli(body)
    # control bytes from the end: the encoding index (PickValueInArray reads
    # a 1-byte range), then the number of cuts
    seeds = {
        0: gzip.compress(body),
        2: zlib.compress(body),
        4: gzip.compress(gzip.compress(body)),
    }
    if br is not None:
        seeds[3] = br
        seeds[5] = gzip.compress(br)
    raw = zlib.compressobj(wbits=-15)
    seeds[6] = raw.compress(body) + raw.flush()
    for idx, data in seeds.items():
        write("inflater", "enc%d" % idx, data + bytes([0, idx]))
        write("inflater", "enc%d-cut" % idx, data + b"\x00\x07\x01" + bytes([idx]))
    write("inflater", "multi-member", gzip.compress(body) + gzip.compress(body) + bytes([0, 0]))


def text_seeds():
    when = ["ok", "!ok", "status >= 200 && status < 300", "status == 2xx",
            'error_class == "timeout" || bytes > 1000000', "(ok && redirects > 0) || !(status == 404)",
            'error_kind != "cancelled"', "attempts > 1 && bytes == 0"]
    for i, w in enumerate(when):
        write("when", "w%d" % i, w.encode())
    urls = ["http://h/a/b", "http://h/../../etc/passwd", "http://h/%2e%2e/x", "http://[::1]:8080/v6",
            "https://h.example:443/dir/?q=1#f", "http://h/a%2Fb", "http://h/utf8/%C3%A9",
            "http://h/" + "a" * 300, "file:///etc/passwd", "..", "http://h/.", "http://h//x//"]
    for i, u in enumerate(urls):
        write("url_path", "u%d" % i, u.encode())
    pipelines = os.path.join(HERE, "..", "..", "pipelines")
    for name in sorted(os.listdir(pipelines)):
        if name.endswith(".yaml"):
            with open(os.path.join(pipelines, name), "rb") as f:
                write("config", name, f.read())


def robots_seeds():
    """token NUL path NUL robots.txt (the robots harness's input)."""
    files = [
        b"User-Agent: *\nDisallow: *.gif$\nDisallow: /example/\nAllow: /publications/\n\n"
        b"User-Agent: foobot\nDisallow:/\nAllow:/example/page.html\n",
        b"user-agent: sluice\r\ndisallow: /a%2Fb\r\nallow: /a/%7Euser\r\ncrawl-delay: 2.5\r\n",
        b"\xef\xbb\xbfUser-agent: *\rDisallow: /\xe3\x83\x84/*.php$\rAllow: /$\r",
        b"Sitemap: http://h/s.xml\nDisallow: /orphan\nUser-agent: a\nUser-agent: b\n# c\n"
        b"Disallow: /**x**$\nUser-agent: *\nDisallow:\n",
    ]
    paths = [b"/example/page.html", b"/a%2fb?x=1", b"/%E3%83%84/x.php", b"/", b"/robots.txt"]
    for i, f in enumerate(files):
        for j, p in enumerate(paths):
            write("robots", "r%d_%d" % (i, j), [b"sluice", b"foobot", b"b"][(i + j) % 3] + b"\0" + p +
                  b"\0" + f)


if __name__ == "__main__":
    reader_seeds()
    inflater_seeds()
    text_seeds()
    robots_seeds()
