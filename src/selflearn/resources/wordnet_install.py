"""Make nltk's WordNet reader work offline from Debian's wordnet-base and wordnet-sense-index files.

Usage: python -m selflearn.resources.wordnet_install DEST   (scripts/setup.sh uses DEST = .venv/nltk_data)

The files are copied, not symlinked: nltk 3.10's path sandbox refuses symlinked (and hard-linked) corpus files.
Debian omits the `lexnames` file that nltk's reader opens first; it is written from WordNet's lexnames(5WN) man
page when that is installed, else from the same table kept below.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from selflearn.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_SOURCE = Path("/usr/share/wordnet")
LEXNAMES_MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")

# The files WordNetCorpusReader._FILES names, minus lexnames (written here).
WORDNET_FILES = (
    "cntlist.rev",
    "index.sense",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
)

# WordNet 3.0's 45 lexicographer files in number order (lexnames(5WN)); the fallback when the man page is absent.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive "
    "noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation "
    "noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception "
    "verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()

# The syntactic-category field of lexnames: 1 NOUN, 2 VERB, 3 ADJECTIVE, 4 ADVERB (from the file name's prefix).
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_from_man_page(path: Path = LEXNAMES_MAN_PAGE) -> list[str]:
    """The lexicographer file names in number order, read from the lexnames(5WN) man page's table."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
    rows = re.findall(r"^(\d\d)\t((?:adj|adv|noun|verb)\.\w+)\s*\t", text, flags=re.MULTILINE)
    names = [name for _, name in sorted(rows, key=lambda row: int(row[0]))]
    if [int(num) for num, _ in sorted(rows, key=lambda r: int(r[0]))] != list(range(len(names))):
        raise ValueError(f"{path}: lexicographer file numbers are not 00..{len(names) - 1:02d}")
    return names


def lexnames_text(names: list[str]) -> str:
    """The lexnames file: "NN<TAB>name<TAB>category" per line."""
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(names))


def _lexnames() -> list[str]:
    if LEXNAMES_MAN_PAGE.is_file():
        try:
            names = lexnames_from_man_page()
            if len(names) == len(LEXNAMES):
                return names
            log.warning("%s lists %d lexicographer files, expected 45; using the built-in table", LEXNAMES_MAN_PAGE, len(names))
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s); using the built-in table", LEXNAMES_MAN_PAGE, exc)
    return list(LEXNAMES)


def _copy_atomic(src: Path, dst: Path) -> None:
    # A real copy (never a link), written beside the target then renamed, so a crash leaves no half file.
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; corpus files are meant to be readable by all
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_wordnet(dest: str | Path, source: str | Path = DEFAULT_SOURCE) -> Path:
    """Copy WordNet 3.0 from `source` into dest/corpora/wordnet/ and write lexnames; returns that folder."""
    src = Path(source)
    missing = [name for name in WORDNET_FILES if not (src / name).is_file()]
    if missing:
        raise UserError(
            f"WordNet files missing in {src}: {', '.join(missing)}; "
            "install Debian's wordnet-base and wordnet-sense-index (scripts/setup.sh does)"
        )
    target = Path(dest) / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for name in WORDNET_FILES:
        _copy_atomic(src / name, target / name)
    # lexnames last: its presence is what setup.sh checks to know the install finished.
    tmp = target / ".lexnames.tmp"
    tmp.write_text(lexnames_text(_lexnames()), encoding="utf-8")
    os.replace(tmp, target / "lexnames")
    log.info("WordNet installed in %s", target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: install WordNet into DEST (an nltk data root)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", help="nltk data root; the corpus goes to DEST/corpora/wordnet")
    parser.add_argument("--source", default=str(DEFAULT_SOURCE), help="folder with Debian's WordNet files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        install_wordnet(args.dest, args.source)
    except UserError as exc:
        log.error("error: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
