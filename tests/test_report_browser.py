"""The report in a real browser (headless Chromium): the script runs without errors, sorts, filters, draws."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from selflearn.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="headless browser test needs Debian's `chromium` package (/usr/bin/chromium)")

# Appended to a copy of the page only: clicks a header twice and types into a filter, then reports what it saw.
PROBE = """<script>
document.addEventListener("DOMContentLoaded", function () {
  var t = document.querySelector("table.comparison"), th = t.tHead.rows[0].cells[2];
  th.click(); var asc = t.tBodies[0].rows[0].cells[0].textContent;
  th.click(); var desc = t.tBodies[0].rows[0].cells[0].textContent;
  var f = document.querySelector('input.filter[data-target="points-1"]');
  f.value = "needle"; f.dispatchEvent(new Event("input"));
  var shown = document.querySelectorAll("#points-1 article.point:not([hidden])").length;
  var pt = document.querySelector("svg.map .pt"); pt.dispatchEvent(new MouseEvent("click", {bubbles: true}));
  var picked = document.querySelectorAll("#questions-1 tr.picked").length;
  document.body.setAttribute("data-probe", JSON.stringify({asc: asc, desc: desc, shown: shown, picked: picked}));
});
</script></body>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    from test_report import make_store  # the small three-run store of the report's unit tests

    store = make_store(tmp_path)
    # A Point in the Unknown of run 1 that the filter must keep: its question text holds "needle".
    with store.tx() as db:
        db.execute("UPDATE scores SET average_score=0.95 WHERE question_id=(SELECT id FROM questions WHERE run_id=1"
                   " AND prompt LIKE '%needle%')")
    return Path(write_report(store, tmp_path / "report.html")["path"])


def _body_attrs(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body, "no <body> in the dumped DOM"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))


def test_report_runs_in_headless_chromium(tmp_path: Path, report: Path) -> None:
    page = tmp_path / "probe.html"
    page.write_text(report.read_text().replace("</body>", PROBE))
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    attrs = _body_attrs(dom)
    assert attrs.get("data-report-ready") == "1", "the report's script did not finish its set-up"
    assert attrs.get("data-script-errors") == "0"
    probe = json.loads(attrs["data-probe"].replace("&quot;", '"'))
    assert (probe["asc"], probe["desc"]) == ("tiny/model-b", "tiny/model-a")  # Curiosity 0.25 vs 0.75 (run 3: none)
    assert probe["shown"] == 1 and probe["picked"] == 1
    assert 'class="sortable comparison"' in dom and dom.count('<svg class="plot hist"') == 3
    assert dom.count('<svg class="plot map"') == 1
    assert "4 of 4 shown" in dom  # the questions filter's counter, written by the script


def test_report_screenshot(tmp_path: Path, report: Path) -> None:
    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,2000", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank 1400x2000 page compresses to a few KB
