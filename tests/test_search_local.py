"""LocalIndex (SQLite FTS5 + BM25) and the WordNet default corpus, on small files and fake glosses."""

from __future__ import annotations

import json
import logging
import os
import sqlite3

import pytest

from selflearn.errors import UserError
from selflearn.protocols import SearchEngine
from selflearn.search.corpus import WORDNET_SOURCE, ensure_default_index, wordnet_documents
from selflearn.search.local import LocalIndex, fts_query


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "orchid.md").write_text("# Twayblade\nA twayblade is a small orchid with two leaves.\n")
    (root / "bruise.txt").write_text("An ecchymosis is a bruise: blood leaks under the skin and discolours it.\n")
    (root / "sub" / "page.html").write_text(
        "<html><head><title>Cricket roles</title><script>var x='wicket';</script></head>"
        "<body><p>The wicket-keeper stands behind the stumps to catch the ball.</p></body></html>")
    rows = [{"id": "w1", "title": "Autolysis", "text": "Autolysis is the destruction of cells by their own enzymes.",
             "url": "https://en.wikipedia.org/wiki/Autolysis"},
            {"title": "Helleborine", "text": "Helleborine is an orchid of the genus Epipactis."}]
    (root / "sub" / "wiki.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "ignored.pdf").write_bytes(b"%PDF")
    return root


def test_build_and_search(folder, tmp_path):
    index = LocalIndex(tmp_path / "idx.sqlite")
    assert isinstance(index, SearchEngine)
    stats = index.build([folder])
    assert stats.indexed_files == 4 and stats.documents == 5
    hits = index.search("What is a twayblade orchid?", 5)
    assert hits[0].url == "local:orchid.md" and hits[0].title == "Twayblade"
    assert "two leaves" in hits[0].text and hits[0].snippet and hits[0].rank == 1
    assert {h.url for h in hits} >= {"local:orchid.md", "local:sub/wiki.jsonl:2"}
    assert hits[0].score > hits[-1].score  # best first, higher is better
    assert index.search("bruises", 1)[0].url == "local:bruise.txt"  # porter stemming: bruises ~ bruise
    page = index.search("wicket keeper", 3)[0]
    assert page.title == "Cricket roles" and "var x" not in page.text
    assert index.search("autolysis enzymes", 1)[0].url == "local:w1"
    assert index.document("w1").url == "https://en.wikipedia.org/wiki/Autolysis"
    assert index.db_path.exists() and index._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("query", [
    'twayblade" OR "', "NEAR(orchid AND", "orchid*", "-orchid", "col:orchid", "(((", "'\";--", "ORCHID AND NOT",
])
def test_user_text_never_breaks_fts5(folder, tmp_path, query):
    index = LocalIndex(tmp_path / "idx.sqlite")
    index.build([folder])
    hits = index.search(query, 3)
    if "orchid" in query.lower() or "twayblade" in query.lower():
        assert hits and "orchid" in hits[0].text.lower()
    else:
        assert hits == []


def test_fts_query_drops_stop_words_and_quotes():
    assert fts_query("What is the role of autolysis in ecchymosis?") == '"autolysis" OR "ecchymosis"'
    assert fts_query("what is it") == ""  # only stop-words: nothing to search for
    assert fts_query("?!") == ""


def test_rebuild_skips_unchanged_and_updates_changed(folder, tmp_path):
    index = LocalIndex(tmp_path / "idx.sqlite")
    index.build([folder])
    again = index.build([folder])
    assert again.indexed_files == 0 and again.skipped_files == 4
    os.utime(folder / "bruise.txt", ns=(1, 1))  # touched, same content: hash says unchanged
    assert index.build([folder]).indexed_files == 0
    (folder / "orchid.md").write_text("# Twayblade\nA twayblade grows in damp woods.\n")
    (folder / "bruise.txt").unlink()
    stats = index.build([folder])
    assert stats.indexed_files == 1 and stats.removed_files == 1 and stats.documents == 4
    assert "damp woods" in index.search("twayblade", 1)[0].text
    assert index.search("ecchymosis", 3) == []
    # Reopening the same file keeps the index.
    assert LocalIndex(tmp_path / "idx.sqlite").count() == 4


def test_binary_and_undecodable_files_skipped_with_warning(tmp_path, caplog):
    root = tmp_path / "d"
    root.mkdir()
    (root / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (root / "latin.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (root / "ok.txt").write_text("fine text about orchids")
    with caplog.at_level(logging.WARNING):
        stats = LocalIndex(tmp_path / "i.sqlite").build([root])
    assert stats.documents == 1 and stats.indexed_files == 1
    assert "binary" in caplog.text and "not UTF-8" in caplog.text


def test_user_errors(tmp_path):
    index = LocalIndex(tmp_path / "i.sqlite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .txt"):
        index.build([tmp_path / "empty"])
    with pytest.raises(UserError, match="no such"):
        index.build([tmp_path / "missing"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x", "text": "y"}\n{"title": "no text"}\n')
    with pytest.raises(UserError, match="bad.jsonl:2"):
        index.build([bad])


def test_search_failure_is_logged_not_raised(folder, tmp_path, caplog):
    index = LocalIndex(tmp_path / "idx.sqlite")
    index.build([folder])
    index._db.execute("DROP TABLE docs_fts")
    with caplog.at_level(logging.WARNING):
        assert index.search("orchid", 3) == []
    assert "orchid" in caplog.text


FAKE_GLOSSES = [
    ("twayblade.n.01", "n", ["twayblade"], "any of various orchids of the genus Listera having a single pair of leaves",
     []),
    ("bruise.v.01", "v", ["bruise", "contuse"], "injure the underlying soft tissue or bone of",
     ["I bruised my knee"]),
    ("fragile.s.02", "s", ["fragile", "delicate"], "easily broken or damaged or destroyed", ["a fragile vase"]),
    ("quickly.r.01", "r", ["quickly", "rapidly", "speedily"], "with rapid movements", ["he works quickly"]),
]


def test_wordnet_documents_format():
    docs = list(wordnet_documents(FAKE_GLOSSES))
    assert docs[0].doc_id == "twayblade.n.01" and docs[0].title == "twayblade"
    assert docs[0].text == ("twayblade (noun): any of various orchids of the genus Listera having a single pair "
                            "of leaves.")
    assert docs[1].text == "bruise, contuse (verb): injure the underlying soft tissue or bone of. " \
                           "Examples: I bruised my knee."
    assert docs[2].text.startswith("fragile, delicate (adjective): ")
    assert docs[3].title == "quickly, rapidly, speedily" and "(adverb)" in docs[3].text


def test_ensure_default_index_builds_once(tmp_path):
    calls = []

    def glosses():
        calls.append(1)
        return iter(FAKE_GLOSSES)

    path = tmp_path / "wn.sqlite"
    index = ensure_default_index(path, glosses=glosses)
    assert index.count() == 4 and index.get_meta(WORDNET_SOURCE) == "4"
    assert index.search("orchid with two leaves", 1)[0].url == "local:twayblade.n.01"
    index.close()
    again = ensure_default_index(path, glosses=glosses)
    assert again.count() == 4 and len(calls) == 1
    # An interrupted build (no completion mark) is rebuilt.
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM meta")
    assert ensure_default_index(path, glosses=glosses).count() == 4 and len(calls) == 2


def test_default_index_path_under_cache_dir(tmp_path, monkeypatch):
    from selflearn.search.corpus import default_index_path

    monkeypatch.setenv("SELFLEARN_CACHE", str(tmp_path))
    assert default_index_path().parent.parent == tmp_path
