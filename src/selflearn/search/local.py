"""A local search engine: SQLite FTS5 with BM25 ranking over your own documents (no network).

build() takes folders or files: .txt, .md, .html/.htm (one document each) and .jsonl (one document per line with
"title" and "text", optional "id" and "url"). Re-running skips files whose size and mtime (or, if only touched,
content hash) are unchanged, and drops the documents of files that disappeared from a folder it indexes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from selflearn.errors import UserError
from selflearn.types import Hit

log = logging.getLogger(__name__)

SUFFIXES = {".txt", ".md", ".html", ".htm", ".jsonl"}
TITLE_WEIGHT, TEXT_WEIGHT = 2.0, 1.0  # bm25() column weights: a match in the title counts double
# Function words that only slow an OR query down and blur its ranking.
STOP_WORDS = frozenset(
    "a about above after again all am an and any are as at be because been before being below between both but by "
    "can could did do does doing down during each few for from further had has have having he her here hers him his "
    "how i if in into is it its itself just me more most my no nor not now of off on once only or other our out over "
    "own same she should so some such than that the their them then there these they this those through to too "
    "under until up very was we were what when where which while who whom why will with would you your".split()
)

# Words that frame a self-asked question rather than name its topic ("the significance of ...", "its role in ...");
# they match thousands of glosses, slow the ranking down and pull unrelated documents up.
QUESTION_WORDS = frozenset(
    "significance significant role roles impact contribution contributions purpose process different differ "
    "difference various related relationship relation specific specifically known main primary typically commonly "
    "common term terms concept mean meaning define definition describe explain example examples type types kind "
    "kinds way ways use used using work works affect affects effect effects history historical today people".split()
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS docs (
    rowid INTEGER PRIMARY KEY, doc_id TEXT UNIQUE NOT NULL, source TEXT NOT NULL,
    title TEXT NOT NULL, url TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS docs_source ON docs(source);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(
    title, text, content='docs', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS docs_ai AFTER INSERT ON docs BEGIN
    INSERT INTO docs_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text); END;
CREATE TRIGGER IF NOT EXISTS docs_ad AFTER DELETE ON docs BEGIN
    INSERT INTO docs_fts(docs_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text); END;
"""


@dataclass
class Document:
    """One document to index."""

    doc_id: str
    title: str
    text: str
    url: str = ""


@dataclass
class BuildStats:
    """What one build() did."""

    indexed_files: int = 0
    skipped_files: int = 0
    removed_files: int = 0
    documents: int = 0


def fts_query(text: str) -> str:
    """Free text as a safe FTS5 query: word tokens, stop-words dropped, each quoted, OR-ed; '' if no words."""
    words = re.findall(r"\w+", text.lower())
    # A query of only stop-words gives nothing: it would match (and rank) nearly every document.
    kept = [w for w in words if w not in STOP_WORDS and w not in QUESTION_WORDS]
    unique = list(dict.fromkeys(kept))[:64]  # bound the query for pathological input
    return " OR ".join(f'"{w}"' for w in unique)  # \w+ tokens hold no quote, so quoting is safe


def html_to_text(html: str) -> tuple[str, str]:
    """(title, main text) of an HTML document: trafilatura, falling back to all visible text."""
    import trafilatura
    from html.parser import HTMLParser

    title_match = re.search(r"<title[^>]*>(.*?)</title>", html, re.I | re.S)
    title = re.sub(r"\s+", " ", title_match.group(1)).strip() if title_match else ""
    text = trafilatura.extract(html, include_comments=False) or ""
    if not text.strip():
        parts: list[str] = []

        class _Visible(HTMLParser):
            skip = 0

            def handle_starttag(self, tag, attrs):
                self.skip += tag in ("script", "style", "title")

            def handle_endtag(self, tag):
                self.skip -= tag in ("script", "style", "title") and self.skip > 0

            def handle_data(self, data):
                if not self.skip and data.strip():
                    parts.append(data.strip())

        _Visible().feed(html)
        text = "\n".join(parts)
    return title, text.strip()


def _decode(path: Path, data: bytes) -> str | None:
    """UTF-8 text of a file, or None (with a warning) for binary or undecodable content."""
    if b"\x00" in data[:8192]:
        log.warning("skipping %s: binary file", path)
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("skipping %s: not UTF-8 text", path)
        return None


def read_documents(path: Path, rel: str, data: bytes) -> list[Document] | None:
    """The documents of one file (None if it is not text); malformed .jsonl is a UserError."""
    text = _decode(path, data)
    if text is None:
        return None
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return list(_jsonl_documents(path, rel, text))
    if suffix in (".html", ".htm"):
        title, body = html_to_text(text)
    else:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        title, body = (first.lstrip("#").strip() if first.startswith("#") else ""), text.strip()
    return [Document(doc_id=rel, title=title or path.stem, text=body)] if body else []


def _jsonl_documents(path: Path, rel: str, text: str) -> Iterator[Document]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            title, body = row["title"], row["text"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path}:{number}: each line must be a JSON object with 'title' and 'text'") from None
        doc_id = str(row.get("id") or f"{rel}:{number}")
        yield Document(doc_id=doc_id, title=str(title), text=str(body), url=str(row.get("url") or ""))


class LocalIndex:
    """SQLite FTS5 index (WAL mode) implementing SearchEngine with BM25 ranking; hits carry the full text."""

    name = "local"

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the index is read from worker threads; SQLite serialises access itself.
        self._db = sqlite3.connect(self.db_path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def build(self, paths: Iterable[str | Path]) -> BuildStats:
        """Index folders/files incrementally; an empty folder or a missing path is a UserError."""
        stats = BuildStats()
        for root in (Path(p) for p in paths):
            files = self._files_under(root)
            for path in files:
                self._index_file(path, self._doc_prefix(root, path), stats)
            if root.is_dir():
                stats.removed_files += self._drop_missing(root, files)
        stats.documents = self.count()
        log.info("local index %s: %s", self.db_path, stats)
        return stats

    @staticmethod
    def _files_under(root: Path) -> list[Path]:
        if not root.exists():
            raise UserError(f"no such file or folder: {root}")
        if root.is_file():
            return [root]
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise UserError(f"{root} has no .txt, .md, .html or .jsonl files to index")
        return files

    @staticmethod
    def _doc_prefix(root: Path, path: Path) -> str:
        return path.relative_to(root).as_posix() if root.is_dir() else path.name

    def _index_file(self, path: Path, rel: str, stats: BuildStats) -> None:
        key = str(path.resolve())
        st = path.stat()
        row = self._db.execute("SELECT size, mtime_ns, sha256 FROM files WHERE path=?", (key,)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            stats.skipped_files += 1
            return
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if row and row[2] == digest:  # touched, not changed
            with self._db:
                self._db.execute("UPDATE files SET size=?, mtime_ns=? WHERE path=?", (st.st_size, st.st_mtime_ns, key))
            stats.skipped_files += 1
            return
        docs = read_documents(path, rel, data)
        with self._db:  # one transaction per file: an interrupted build loses at most this file
            self._db.execute("DELETE FROM docs WHERE source=?", (key,))
            if docs is not None:
                self._insert(docs, source=key)
            self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                             (key, st.st_size, st.st_mtime_ns, digest))
        stats.indexed_files += docs is not None

    def _drop_missing(self, root: Path, present: list[Path]) -> int:
        prefix = str(root.resolve()) + "/"
        known = {p for (p,) in self._db.execute("SELECT path FROM files WHERE substr(path, 1, ?) = ?",
                                                  (len(prefix), prefix))}
        gone = known - {str(p.resolve()) for p in present}
        with self._db:
            for key in gone:
                self._db.execute("DELETE FROM docs WHERE source=?", (key,))
                self._db.execute("DELETE FROM files WHERE path=?", (key,))
        return len(gone)

    def _insert(self, docs: Iterable[Document], *, source: str) -> None:
        rows = [(d.doc_id, source, d.title, d.url, d.text) for d in docs]
        # A document id seen again replaces the earlier one (the delete trigger keeps the FTS table in step).
        self._db.executemany("DELETE FROM docs WHERE doc_id=?", [(r[0],) for r in rows])
        self._db.executemany("INSERT INTO docs(doc_id, source, title, url, text) VALUES (?, ?, ?, ?, ?)", rows)

    def add_documents(self, docs: Iterable[Document], *, source: str) -> int:
        """Replace all documents of source with docs in one transaction (for generated corpora); returns the count."""
        with self._db:
            self._db.execute("DELETE FROM docs WHERE source=?", (source,))
            self._insert(docs, source=source)
        return self._db.execute("SELECT count(*) FROM docs WHERE source=?", (source,)).fetchone()[0]

    def search(self, query: str, k: int) -> list[Hit]:
        """Up to k hits for free text, best BM25 first; url is "local:<doc id>"; never raises."""
        match = fts_query(query)
        if not match or k <= 0:
            return []
        # Two steps: rank all matches with bm25() alone, then build snippets and join texts for the top k only
        # (computing snippet() for every match cost as much as the ranking itself).
        ranked_sql = (f"SELECT rowid, bm25(docs_fts, {TITLE_WEIGHT}, {TEXT_WEIGHT}) AS r FROM docs_fts "
                      "WHERE docs_fts MATCH ? ORDER BY r LIMIT ?")
        detail_sql = ("SELECT f.rowid, d.doc_id, d.title, snippet(docs_fts, 1, '', '', '…', 32), d.text "
                      "FROM docs_fts f JOIN docs d ON d.rowid = f.rowid WHERE docs_fts MATCH ? AND f.rowid = ?")
        try:
            ranked = self._db.execute(ranked_sql, (match, k)).fetchall()
            details = [self._db.execute(detail_sql, (match, rowid)).fetchone() for rowid, _ in ranked]
        except sqlite3.Error as exc:
            log.warning("local search failed for query %r: %s", query, exc)
            return []
        # bm25() is lower-is-better; the hit score is its negation so that higher means better everywhere.
        return [Hit(url=f"local:{doc_id}", title=title, snippet=snip, text=text, rank=i + 1, score=-float(r))
                for i, ((_, r), (_, doc_id, title, snip, text)) in enumerate(zip(ranked, details))]

    def document(self, doc_id: str) -> Document | None:
        """One stored document by id (its original url too, if the .jsonl gave one)."""
        row = self._db.execute("SELECT doc_id, title, text, url FROM docs WHERE doc_id=?", (doc_id,)).fetchone()
        return Document(doc_id=row[0], title=row[1], text=row[2], url=row[3]) if row else None

    def optimize(self) -> None:
        """Merge the FTS b-trees into one: a smaller file and faster queries for an index that stops changing."""
        with self._db:
            self._db.execute("INSERT INTO docs_fts(docs_fts) VALUES ('optimize')")

    def count(self) -> int:
        """Number of documents in the index."""
        return self._db.execute("SELECT count(*) FROM docs").fetchone()[0]

    def get_meta(self, key: str) -> str | None:
        """A value from the index's meta table."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the index's meta table."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
