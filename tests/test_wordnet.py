"""WordNet offline: the installer (copies + lexnames), the reader's search path, and the real data's counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from selflearn.errors import UserError
from selflearn.resources import wordnet, wordnet_install
from selflearn.resources.wordnet_install import LEXNAMES, WORDNET_FILES, install_wordnet, lexnames_text

DEBIAN_WORDNET = Path("/usr/share/wordnet")


def fake_debian_wordnet(folder: Path) -> Path:
    """A folder with every file the installer copies (tiny placeholder contents)."""
    folder.mkdir(parents=True)
    for name in WORDNET_FILES:
        (folder / name).write_text(f"{name}\n")
    return folder


def test_lexnames_table():
    text = lexnames_text(list(LEXNAMES))
    lines = text.splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2"
    assert lines[44] == "44\tadj.ppl\t3"
    assert "02\tadv.all\t4" in lines


def test_lexnames_man_page_matches_table():
    if not wordnet_install.LEXNAMES_MAN_PAGE.is_file():
        pytest.skip("lexnames(5WN) man page not installed")
    assert wordnet_install.lexnames_from_man_page() == list(LEXNAMES)


def test_install_copies_real_files_and_writes_lexnames(tmp_path):
    src = fake_debian_wordnet(tmp_path / "debian")
    target = install_wordnet(tmp_path / "nltk_data", src)
    assert target == tmp_path / "nltk_data" / "corpora" / "wordnet"
    for name in WORDNET_FILES:
        copied = target / name
        assert copied.is_file() and not copied.is_symlink() and copied.read_text() == f"{name}\n"
        assert copied.stat().st_ino != (src / name).stat().st_ino  # a copy, not a hard link
    assert (target / "lexnames").read_text().count("\n") == 45
    install_wordnet(tmp_path / "nltk_data", src)  # idempotent
    assert not [p for p in target.iterdir() if p.name.startswith(".")]


def test_install_reports_missing_files(tmp_path):
    src = fake_debian_wordnet(tmp_path / "debian")
    (src / "data.noun").unlink()
    with pytest.raises(UserError, match="data.noun"):
        install_wordnet(tmp_path / "out", src)
    assert wordnet_install.main([str(tmp_path / "out"), "--source", str(src)]) == 2


def test_reader_search_order_and_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFLEARN_NLTK_DATA", str(tmp_path / "mine"))
    roots = wordnet.wordnet_roots()
    assert roots[0] == tmp_path / "mine"
    # With nothing installed anywhere the user is told to run the set-up script.
    monkeypatch.setattr(wordnet, "wordnet_roots", lambda: [tmp_path / "nowhere"])
    with pytest.raises(UserError, match="scripts/setup.sh"):
        wordnet.wordnet_reader()


def test_env_root_wins(tmp_path, monkeypatch):
    src = fake_debian_wordnet(tmp_path / "debian")
    install_wordnet(tmp_path / "mine", src)
    monkeypatch.setenv("SELFLEARN_NLTK_DATA", str(tmp_path / "mine"))
    assert wordnet.find_wordnet_dir() == tmp_path / "mine" / "corpora" / "wordnet"


@pytest.fixture(scope="module")
def real_reader(tmp_path_factory):
    """nltk's reader over Debian's WordNet, installed into a fresh folder (skipped without wordnet-base)."""
    if not all((DEBIAN_WORDNET / name).is_file() for name in WORDNET_FILES):
        pytest.skip("Debian's wordnet-base / wordnet-sense-index are not installed")
    root = tmp_path_factory.mktemp("nltk_data")
    install_wordnet(root, DEBIAN_WORDNET)
    mp = pytest.MonkeyPatch()
    mp.setenv("SELFLEARN_NLTK_DATA", str(root))
    try:
        yield wordnet.wordnet_reader()
    finally:
        mp.undo()


@pytest.mark.integration
def test_real_wordnet_counts(real_reader):
    strings = wordnet.noun_lemma_strings(real_reader)
    assert len(strings) == 146_345  # one per (noun synset, lemma), identical strings once
    assert strings[0] == (
        "entity ### that which is perceived or known or inferred to have its own distinct existence "
        "(living or nonliving)"
    )
    assert len({wordnet.lemma_of(s) for s in strings}) > 100_000
    assert sum(1 for _ in real_reader.all_synsets("n")) == 82_115
    glosses = list(wordnet.all_glosses(real_reader))
    assert len(glosses) == 117_659
    assert {g.pos for g in glosses} == {"n", "v", "a", "s", "r"}
    dog = next(g for g in glosses if g.name == "dog.n.01")
    assert "domestic_dog" in dog.lemmas and dog.examples and "domesticated" in dog.definition
    assert real_reader.synset("dog.n.01").lexname() == "noun.animal"  # lexnames written correctly
