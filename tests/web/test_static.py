"""The web page's static files: small, offline, labelled, and carrying the ids the e2e tests use."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from deeptrust.web import INDEX_HTML, STATIC_DIR

FILES = ("index.html", "app.js", "app.css")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "label" and attributes.get("for"):
            self.label_for.add(str(attributes["for"]))
        if tag in ("input", "select", "textarea"):
            self.controls.append(attributes)


@pytest.fixture(scope="module")
def page() -> _Page:
    parsed = _Page()
    parsed.feed(INDEX_HTML.read_text())
    return parsed


def test_the_static_files_exist_and_stay_small() -> None:
    sizes = {name: (STATIC_DIR / name).stat().st_size for name in FILES}
    assert sum(sizes.values()) < 40 * 1024, sizes


@pytest.mark.parametrize("name", FILES)
def test_nothing_is_loaded_from_elsewhere(name: str) -> None:
    text = (STATIC_DIR / name).read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:)?//", text), "external resource"
    assert not re.search(r"@import|url\(\s*[\"']?(https?:)?//", text), "external stylesheet or font"
    assert 'fetch("http' not in text and "fetch('http" not in text


def test_every_documented_id_is_on_the_page(page: _Page) -> None:
    header = (STATIC_DIR / "app.js").read_text().split("*/", 1)[0]
    documented = set(re.findall(r"#([a-z][a-z0-9-]*)", header))
    assert {"file-input", "drop-zone", "verdict", "p-ai", "heatmap", "opacity", "facts"} <= documented
    assert {"wrong-button", "correct-label", "send-feedback", "feedback-status"} <= documented
    assert {"results-table"} <= documented
    assert {"download-csv", "tab-review", "review-list", "export-link", "api-key"} <= documented
    assert documented <= page.ids, documented - page.ids


def test_every_control_is_labelled(page: _Page) -> None:
    for control in page.controls:
        labelled = control.get("id") in page.label_for or control.get("aria-label")
        assert labelled, f"control without a label: {control}"
    assert "opacity" in page.label_for and 'for="opacity">Heatmap opacity<' in INDEX_HTML.read_text()


def test_results_are_announced(page: _Page) -> None:
    html = INDEX_HTML.read_text()
    for region in ("status", "feedback-status", "review-status"):
        assert re.search(rf'id="{region}"[^>]*aria-live="polite"', html), region


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_app_js_parses() -> None:
    subprocess.run(["node", "--check", str(STATIC_DIR / "app.js")], check=True)
