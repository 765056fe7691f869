"""The page reader: fetch web pages safely and keep only their main text.

Safety rules, checked on every redirect hop: only http/https; the host must resolve to public addresses
(private, loopback, link-local, multicast, reserved and unspecified ones are refused unless allow_private_hosts);
the connection is pinned to the address that was checked (the request goes to the IP, with the original Host
header and TLS server name), so a second DNS answer cannot point it elsewhere (no DNS-rebinding gap);
only text/html and text/plain; the body is streamed and cut at max_bytes; each page has an overall deadline.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from selflearn.protocols import PageCache

log = logging.getLogger(__name__)

USER_AGENT = "selflearn/0.1 (knowledge search; +https://arxiv.org/abs/2402.09147)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain",)
REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass
class PageRecord:
    """What reading one URL gave: the main text, or an error saying why there is none."""

    url: str
    final_url: str = ""
    status: int = 0  # HTTP status of the last hop; 0 when no response came
    content_type: str = ""
    text: str = ""
    error: str = ""  # empty when the page was read
    truncated: bool = False  # the body was cut at max_bytes or at the deadline

    @property
    def ok(self) -> bool:
        """True when the page gave main text."""
        return not self.error and bool(self.text)


class MemoryPageCache:
    """A PageCache in a dict, for tests and one-off runs (the run store implements the persistent one)."""

    def __init__(self) -> None:
        self._pages: dict[str, PageRecord] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> PageRecord | None:
        """The record of url, if it was read before."""
        with self._lock:
            return self._pages.get(url)

    def put(self, record: PageRecord) -> None:
        """Remember a record under its requested URL."""
        with self._lock:
            self._pages[record.url] = record

    def __len__(self) -> int:
        return len(self._pages)


class _Refused(Exception):
    """A URL that must not be fetched (scheme, host, address); permanent, so cached."""


class _Transient(Exception):
    """A failure worth retrying in a later run (network, time-out, 5xx); not cached."""


def blocked_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for addresses a crawler must never reach: private, loopback, link-local, multicast, reserved, unspecified."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
        ip = mapped
    return bool(
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """Resolve host and return one address to connect to; raise _Refused if any address is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _Transient(f"cannot resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise _Transient(f"cannot resolve {host}")
    # All addresses are checked, not only the first: the OS could otherwise pick a blocked one.
    bad = [str(a) for a in addresses if blocked_address(a)]
    if bad and not allow_private:
        raise _Refused(f"refused: {host} resolves to a non-public address ({bad[0]})")
    return str(addresses[0])


def _pinned(url: str, ip: str) -> tuple[str, str]:
    """The URL with its host replaced by the checked IP, and the Host header value to send."""
    parts = urlsplit(url)
    host_header = parts.netloc.rsplit("@", 1)[-1]  # never forward credentials in the Host header
    ip_host = f"[{ip}]" if ":" in ip else ip
    netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header


def main_text(body: bytes, content_type: str, charset: str | None) -> str:
    """Main text of a page: trafilatura for HTML, decoded text for text/plain."""
    if content_type in TEXT_TYPES:
        return body.decode(charset or "utf-8", errors="replace").strip()
    import trafilatura

    html = body.decode(charset or "utf-8", errors="replace")
    return (trafilatura.extract(html, include_comments=False) or "").strip()


class PageReader:
    """Fetch pages in a bounded thread pool, each URL once (through the cache), safely (see the module docstring)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 15,
        page_deadline: float = 30,
        max_bytes: int = 5_000_000,
        max_redirects: int = 5,
        allow_private_hosts: bool = False,
        workers: int = 8,
        cache: PageCache | None = None,
        progress: bool = True,
    ):
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.page_deadline = page_deadline
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.allow_private_hosts = allow_private_hosts
        self.workers = max(1, workers)
        self.cache = cache
        self.progress = progress
        self._local = threading.local()  # one httpx.Client per worker thread

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            # Redirects are followed by hand so that every hop is checked; no proxies from the environment,
            # since a proxy would break the address pinning.
            client = httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False)
            self._local.client = client
        return client

    def fetch(self, urls: Sequence[str]) -> list[PageRecord]:
        """Read each URL (duplicates and cached ones once); records come back in the order of urls."""
        unique = list(dict.fromkeys(urls))
        done: dict[str, PageRecord] = {}
        todo = []
        for url in unique:
            cached = self.cache.get(url) if self.cache is not None else None
            if cached is not None:
                done[url] = cached
            else:
                todo.append(url)
        if todo:
            from tqdm.auto import tqdm

            with ThreadPoolExecutor(max_workers=min(self.workers, len(todo))) as pool:
                bar = tqdm(total=len(todo), desc="reading pages", unit="page", disable=not self.progress, leave=False)
                for record in pool.map(self.fetch_one, todo):
                    done[record.url] = record
                    bar.update(1)
                bar.close()
        return [done[url] for url in urls]

    def fetch_one(self, url: str) -> PageRecord:
        """Read one URL (no cache lookup); never raises, failures become error records."""
        try:
            record = self._read(url)
            cacheable = record.status < 500  # a server error may pass: let a later run try again
        except _Refused as exc:
            record, cacheable = PageRecord(url=url, error=str(exc)), True
        except (ValueError, httpx.InvalidURL) as exc:  # a malformed URL (bad port, bad IDNA host)
            record, cacheable = PageRecord(url=url, error=f"invalid URL: {exc}"), True
        except _Transient as exc:
            record, cacheable = PageRecord(url=url, error=str(exc)), False
        except httpx.HTTPError as exc:  # connect/read time-outs, resets, protocol errors
            record, cacheable = PageRecord(url=url, error=f"{type(exc).__name__}: {exc}"), False
        if record.error:
            log.info("page %s: %s", url, record.error)
        if cacheable and self.cache is not None:
            self.cache.put(record)
        return record

    def _read(self, url: str) -> PageRecord:
        deadline = time.monotonic() + self.page_deadline
        current = url
        for _hop in range(self.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _Refused(f"refused: only http and https URLs are read ({current[:100]})")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            ip = resolve_checked(parts.hostname, port, allow_private=self.allow_private_hosts)
            target, host_header = _pinned(current, ip)
            headers = {"Host": host_header, "User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.9"}
            extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
            with self._client().stream("GET", target, headers=headers, extensions=extensions) as resp:
                if resp.status_code in REDIRECT_CODES and "location" in resp.headers:
                    current = urljoin(current, resp.headers["location"])
                    continue
                return self._page(url, current, resp, deadline)
        raise _Refused(f"too many redirects (more than {self.max_redirects})")

    def _page(self, url: str, final_url: str, resp: httpx.Response, deadline: float) -> PageRecord:
        """Turn a final (non-redirect) response into a record, reading at most max_bytes before the deadline."""
        content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        record = PageRecord(url=url, final_url=final_url, status=resp.status_code, content_type=content_type)
        if resp.status_code >= 400:
            record.error = f"HTTP {resp.status_code}"
            return record
        if content_type not in HTML_TYPES + TEXT_TYPES:
            record.error = f"unsupported content type {content_type or '(none)'}"
            return record
        chunks, size = [], 0
        for chunk in resp.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= self.max_bytes or time.monotonic() > deadline:
                record.truncated = True  # a huge or never-ending page is cut, not loaded
                break
        body = b"".join(chunks)[: self.max_bytes]
        record.text = main_text(body, content_type, resp.charset_encoding)
        if not record.text:
            record.error = "no main text"
        return record
