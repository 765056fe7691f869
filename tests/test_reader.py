"""PageReader against a local HTTP server: main text, limits, redirects, refusals, cache."""

from __future__ import annotations

import time

import pytest
from http_server import LocalServer, endless, html, redirect, respond

from selflearn.protocols import PageCache
from selflearn.search.reader import MemoryPageCache, PageReader, PageRecord, blocked_address, resolve_checked

ARTICLE = "<article><h1>Ecchymosis</h1>" + "".join(
    f"<p>Paragraph {i}: an ecchymosis is a discoloration of the skin resulting from bleeding underneath, "
    f"typically caused by bruising, and it changes colour as the blood is broken down.</p>"
    for i in range(6)
) + "</article>"


def reader(**kw) -> PageReader:
    kw.setdefault("allow_private_hosts", True)
    kw.setdefault("progress", False)
    return PageReader(**kw)


def test_reads_main_text_of_html_and_plain_text():
    routes = {"/a": html(ARTICLE), "/t": respond(200, "plain words here", "text/plain; charset=utf-8")}
    with LocalServer(routes) as srv:
        a, t = reader().fetch([srv.url("/a"), srv.url("/t")])
    assert a.ok and "discoloration of the skin" in a.text and "<p>" not in a.text
    assert a.status == 200 and a.content_type == "text/html" and a.final_url == srv.url("/a")
    assert t.ok and t.text == "plain words here"


def test_error_records_for_status_type_and_empty_page():
    routes = {
        "/pdf": respond(200, b"%PDF-1.4", "application/pdf"),
        "/empty": html(""),
        "/gone": html("gone", status=404),
    }
    with LocalServer(routes) as srv:
        pdf, empty, gone = reader().fetch([srv.url("/pdf"), srv.url("/empty"), srv.url("/gone")])
    assert "unsupported content type application/pdf" in pdf.error
    assert empty.error == "no main text"
    assert gone.error == "HTTP 404" and gone.status == 404
    assert not (pdf.ok or empty.ok or gone.ok)


def test_only_http_and_https_and_malformed_urls():
    file_url, bad_port, no_host = reader().fetch(["file:///etc/passwd", "http://127.0.0.1:abc/", "http:///x"])
    assert file_url.error.startswith("refused: only http and https")
    assert bad_port.error.startswith("invalid URL")
    assert no_host.error.startswith("refused")


def test_endless_page_is_cut_at_max_bytes():
    with LocalServer({"/big": endless()}) as srv:
        start = time.monotonic()
        (rec,) = reader(max_bytes=200_000).fetch([srv.url("/big")])
    assert rec.truncated and len(rec.text) <= 200_000 and rec.text.startswith("xxx")
    assert time.monotonic() - start < 5


def test_slow_trickle_is_cut_at_the_page_deadline():
    with LocalServer({"/slow": endless(chunk=b"y" * 10)}) as srv:
        start = time.monotonic()
        (rec,) = reader(page_deadline=0.5, max_bytes=10**9).fetch([srv.url("/slow")])
    assert rec.truncated and time.monotonic() - start < 3


def test_read_timeout_gives_an_error_record():
    with LocalServer({"/hang": respond(200, "late", "text/plain", delay=2.0)}) as srv:
        (rec,) = reader(read_timeout=0.3).fetch([srv.url("/hang")])
    assert "Timeout" in rec.error and not rec.ok


def test_redirects_followed_and_limited():
    with LocalServer({"/r1": redirect("/r2"), "/r2": redirect("/a"), "/a": html(ARTICLE),
                      "/loop": redirect("/loop")}) as srv:
        ok, loop = reader(max_redirects=3).fetch([srv.url("/r1"), srv.url("/loop")])
        assert ok.ok and ok.final_url == srv.url("/a") and ok.url == srv.url("/r1")
        assert "too many redirects" in loop.error
        (short,) = reader(max_redirects=1).fetch([srv.url("/r1")])
        assert "too many redirects" in short.error


def test_private_hosts_refused_without_the_flag():
    refusing = PageReader(progress=False)
    loop, meta = refusing.fetch(["http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data/"])
    assert loop.error.startswith("refused") and "127.0.0.1" in loop.error
    assert meta.error.startswith("refused") and "169.254.169.254" in meta.error


def test_redirect_to_a_private_host_is_refused_on_that_hop(monkeypatch):
    # The first hop is allowed (as if public), the redirect points at the metadata address: refused there.
    import selflearn.search.reader as mod

    real = mod.resolve_checked

    def fake(host, port, *, allow_private):
        return real(host, port, allow_private=(host == "127.0.0.1"))

    monkeypatch.setattr(mod, "resolve_checked", fake)
    with LocalServer({"/r": redirect("http://169.254.169.254/")}) as srv:
        (rec,) = PageReader(progress=False).fetch([srv.url("/r")])
    assert rec.error.startswith("refused") and "169.254.169.254" in rec.error


@pytest.mark.parametrize("addr,blocked", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("169.254.169.254", True),
    ("224.0.0.1", True), ("0.0.0.0", True), ("::1", True), ("::ffff:127.0.0.1", True), ("fe80::1", True),
    ("8.8.8.8", False), ("2606:4700:4700::1111", False),
])
def test_blocked_address(addr, blocked):
    import ipaddress

    assert blocked_address(ipaddress.ip_address(addr)) is blocked


def test_resolve_checked_refuses_localhost_name():
    with pytest.raises(Exception, match="non-public"):
        resolve_checked("localhost", 80, allow_private=False)


def test_host_header_is_the_original_host():
    with LocalServer({"/a": html(ARTICLE)}) as srv:
        reader().fetch([srv.url("/a")])
        assert srv.headers[0]["Host"] == f"127.0.0.1:{srv.port}"


def test_each_url_fetched_once_with_cache_and_order_kept():
    cache = MemoryPageCache()
    assert isinstance(cache, PageCache)
    with LocalServer({"/a": html(ARTICLE), "/b": respond(200, "bee", "text/plain")}) as srv:
        urls = [srv.url("/a"), srv.url("/b"), srv.url("/a")]
        first = reader(cache=cache, workers=4).fetch(urls)
        second = reader(cache=cache).fetch(urls)
        assert len(srv.requests) == 2  # the duplicate and the second run come from the cache
    assert [r.url for r in first] == urls and [r.url for r in second] == urls
    assert second[1].text == "bee" and isinstance(second[0], PageRecord)


def test_transient_failures_are_not_cached():
    cache = MemoryPageCache()
    with LocalServer({"/err": html("boom", status=503)}) as srv:
        (rec,) = reader(cache=cache).fetch([srv.url("/err")])
        assert rec.error == "HTTP 503" and cache.get(srv.url("/err")) is None
