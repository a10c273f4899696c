"""thpverify report --html: structure, self-containment, and a real browser."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import run_cli

MINI = "tests/corpus/mini.thp"
VMA = ["--set", "special=1", "--set", "hugepage=1", "--set", "disabled=0", "--set", "anonymous=0"]
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    old = Path.cwd()
    os.chdir(Path(__file__).parent.parent)
    try:
        code, out, err = run_cli("report", MINI, "--html", str(path), *VMA)
    finally:
        os.chdir(old)
    assert code == 0, err
    assert out == f"wrote {path}: 6 checks: 3 proved, 1 refuted, 2 vacuous; all as expected\n"
    return path


def test_matrix_cells_and_counterexample_panel(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    cells = [a.get("class") for t, a in parser.tags if t == "td" and a.get("class")]
    assert cells[:6] == ["proved", "proved", "refuted", "proved", "vacuous", "vacuous"]
    link = next(a["href"] for t, a in parser.tags if t == "a" and (a.get("href") or "").startswith("#cex-"))
    assert link is not None
    panel = text.split(f'id="{link[1:]}"', 1)[1].split("</section>", 1)[0]
    assert "special_fault [old]: refuted, as expected" in panel
    assert "decided by special" in panel and "mm/x.c:12-13 (1.0)" in panel
    assert "trace of eligible" in panel


def test_diff_table_and_timeline(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "old → new" in text
    diff = text.split('id="diffs"', 1)[1]
    assert "<table class=\"diff\">" in diff and "by special" in diff
    svg = text.split('<svg', 1)[1].split("</svg>", 1)[0]
    assert 'id="timeline"' in svg
    # old refuses the special mapping by its `special` rule; new lets the fault through.
    assert "old: false, decided by special" in svg
    assert "new: true, decided by L14" in svg


def test_page_is_self_contained_and_deterministic(page: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    assert not [t for t, _ in parser.tags if t in ("script", "link", "img", "iframe", "object")]
    for _, attrs in parser.tags:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"^[a-z]+:", value), value
    again = tmp_path / "again.html"
    code, _, _ = run_cli("report", MINI, "--html", str(again), *VMA)
    assert code == 0
    assert again.read_text(encoding="utf-8") == text


def test_report_usage_errors(tmp_path: Path) -> None:
    code, _, err = run_cli("report", MINI, "--html", str(tmp_path / "r.html"), "--set", "nosuch=1")
    assert code == 2 and "unknown atom 'nosuch'" in err
    code, _, err = run_cli("report", MINI, "--html", str(tmp_path / "missing" / "r.html"), *VMA)
    assert code == 2 and "no such directory" in err


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("THPVERIFY_REQUIRE_BROWSER"):
        pytest.fail("THPVERIFY_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI sets THPVERIFY_REQUIRE_BROWSER")


def _png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_report_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    browser = _browser()
    common = [browser, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,700"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert '<table class="matrix" id="matrix">' in dom
    assert dom.count('<td class="proved">') == 3 and dom.count('<td class="refuted">') == 1
    shot = tmp_path / "report.png"
    subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    width, height, colours = _png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1000, 700)
    assert colours > 20  # not a blank page
