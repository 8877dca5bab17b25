"""The page end to end: real headless Chromium (Debian's ``chromium``) against a real ``deeptrust serve``.

Covers the issue's acceptance path — upload → verdict → heatmap and its opacity → "Wrong?" feedback →
the item in the moderator's queue → relabel → export → ``deeptrust data import`` — plus the batch
table (sort, thumbnails, CSV), drop and paste, the keyboard path to the file chooser, and phone width.

Screenshots go to the test's tmp dir; ``docs/screenshots/check.png`` (the README's) is written when it
is missing or when DEEPTRUST_UPDATE_SCREENSHOTS=1, so that a test run leaves the work tree clean.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from deeptrust.data import import_dataset

from ..evidence._builders import C2PA_DIR, TRUST_BUNDLE, created, sign_c2pa
from ..serve.conftest import REPO, jpeg_bytes

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SAMPLE_ARCHIVE = REPO.parent / "shared" / "datasets" / "sd-vs-photos.tar.gz"
DOCS_SCREENSHOT = REPO / "docs" / "screenshots" / "check.png"
TIMEOUT_MS = 60_000  # a cold model on a busy 2-core machine


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the end-to-end tests need Debian's chromium "
            "(apt-get install -y chromium; .ci/run installs it)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser: Browser, url: str, *, width: int = 1100, height: int = 900) -> tuple[Page, list[str]]:
    """A fresh context (no stored API key); also returns the list that collects uncaught page errors."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Intercept file choosers from the start: Playwright turns interception on lazily, and a key press
    # right after expect_file_chooser() can beat it (the chooser then opens natively and is lost).
    page.on("filechooser", lambda _: None)
    page.goto(url + "/")
    return page, errors


def sample_photo(tmp_path: Path) -> Path:
    """A real 512×512 photo from sd-vs-photos (the first REAL one), or a generated stand-in."""
    target = tmp_path / "photo.jpg"
    if SAMPLE_ARCHIVE.exists():
        with tarfile.open(SAMPLE_ARCHIVE) as tar:
            for member in tar:
                if member.isfile() and "/REAL/" in member.name and member.name.endswith(".jpg"):
                    target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
                    return target
    y, x = np.mgrid[0:512, 0:512]
    pixels = np.stack([x / 2, y / 2, (x + y) / 4], axis=-1) + np.random.default_rng(0).normal(
        0, 12, (512, 512, 3)
    )
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(target, quality=92)
    return target


def no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert max(widths[:2]) <= widths[2], f"the page scrolls sideways: {widths}"


def save_docs_screenshot(png: bytes) -> None:
    """The README's screenshot, as a 256-colour PNG (small enough for the repository)."""
    if DOCS_SCREENSHOT.exists() and os.environ.get("DEEPTRUST_UPDATE_SCREENSHOTS") != "1":
        return
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    image.save(DOCS_SCREENSHOT, optimize=True)
    assert DOCS_SCREENSHOT.stat().st_size < 300_000, DOCS_SCREENSHOT.stat().st_size


def heatmap_opacity(page: Page) -> float:
    return float(page.eval_on_selector("#heatmap", "e => getComputedStyle(e).opacity"))


def test_check_feedback_review_relabel_export(browser: Browser, server_factory, keys, tmp_path: Path) -> None:
    # band 0: only the flag sent below is queued, whatever the model's p_ai for this photo (a borderline
    # score would queue a second item by itself; tests/web/test_routes.py covers the band)
    env = {"DEEPTRUST_MODEL": "photos", "DEEPTRUST_AUTH": "required", "DEEPTRUST_REVIEW_BAND": "0"}
    server = server_factory(env=env).wait_ready()
    photo = sample_photo(tmp_path)
    page, errors = open_page(browser, server.url)

    # the key field: a moderator key, so that one session can both check and review
    page.click("#key-box summary")
    page.fill("#api-key", keys["moderator"])
    page.keyboard.press("Tab")  # committing the field (change event) stores the key
    assert page.evaluate("localStorage.getItem('deeptrust.apiKey')") == keys["moderator"]
    page.click("#key-box summary")  # folded away again

    # upload → verdict, p_ai against the threshold, model, facts
    page.set_input_files("#file-input", str(photo))
    expect(page.locator("#verdict")).to_have_text(
        re.compile(r"(Likely AI-generated|Looks like a real photo)")
    )
    verdict = page.inner_text("#verdict")
    predicted = re.search(r"\((FAKE|REAL)\)", verdict).group(1)  # type: ignore[union-attr]
    p_ai = float(page.get_attribute("#p-ai", "aria-valuenow"))  # type: ignore[arg-type]
    threshold = float(page.get_attribute("#p-ai", "data-threshold"))  # type: ignore[arg-type]
    assert predicted == ("FAKE" if p_ai >= threshold else "REAL")
    expect(page.locator("#model")).to_contain_text("photos")
    expect(page.locator("#p-ai-text")).to_contain_text(f"threshold {threshold:.3f}")
    expect(page.locator("#facts")).to_contain_text("512 × 512 px")
    expect(page.locator("#facts")).to_contain_text(hashlib.sha256(photo.read_bytes()).hexdigest())

    # the heatmap, and its opacity driven from the keyboard
    expect(page.locator("#heatmap")).to_be_visible()
    assert page.eval_on_selector("#heatmap", "e => e.complete && e.naturalWidth") == 512
    assert heatmap_opacity(page) == pytest.approx(0.6)
    page.focus("#opacity")
    for _ in range(20):
        page.keyboard.press("ArrowLeft")
    assert heatmap_opacity(page) == pytest.approx(0.4)
    page.keyboard.press("End")
    assert heatmap_opacity(page) == pytest.approx(1.0)
    page.keyboard.press("Home")
    assert heatmap_opacity(page) == pytest.approx(0.0)
    for _ in range(55):
        page.keyboard.press("ArrowRight")
    assert heatmap_opacity(page) == pytest.approx(0.55)
    shot = page.screenshot(path=str(tmp_path / "check.png"), full_page=True)
    save_docs_screenshot(shot)

    # "Wrong?" → the other label → sent; the confirmation names the queued item
    page.click("#wrong-button")
    expect(page.locator("#feedback")).to_be_visible()
    expect(page.locator("#correct-label")).to_be_focused()
    corrected = "REAL" if predicted == "FAKE" else "FAKE"
    page.select_option("#correct-label", corrected)
    page.fill("#feedback-comment", "e2e: the model got this one wrong")
    page.click("#send-feedback")
    status = page.locator("#feedback-status")
    expect(status).to_have_text(re.compile(r"sent for review as item #\d+"))
    item_id = int(re.search(r"#(\d+)", status.inner_text()).group(1))  # type: ignore[union-attr]
    page.screenshot(path=str(tmp_path / "feedback.png"), full_page=True)

    # the Review tab: the flagged item, its image fetched with the key
    page.click("#tab-review")
    item = page.locator(f"[data-testid=item-{item_id}]")
    expect(item).to_be_visible()
    expect(item).to_contain_text(f"a user says {corrected}; the model said {predicted}")
    expect(page.locator("#review-status")).to_have_text("1 item waiting for review.")
    expect(item.locator("img")).to_have_attribute("src", re.compile("^blob:"))
    assert item.locator("img").evaluate("e => e.decode().then(() => e.naturalWidth)") == 512
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)

    # the moderator overrules the user: relabel back to the model's label
    page.select_option(f"[data-testid=label-{item_id}]", predicted)
    page.click(f"[data-testid=relabel-{item_id}]")
    expect(item).to_have_count(0)
    expect(page.locator("#review-status")).to_have_text(f"Item #{item_id} relabelled as {predicted}.")

    # export from the page → an ImageFolder that `deeptrust data import` accepts, labelled as relabelled
    with page.expect_download() as download_info:
        page.click("#export-link")
    archive = tmp_path / "reviewed.tar.gz"
    download_info.value.save_as(archive)
    assert download_info.value.suggested_filename == "deeptrust-reviewed.tar.gz"
    imported = import_dataset(archive, name="web-e2e", val_fraction=0.0, workers=1, progress=False)
    assert imported.excluded.empty and len(imported.manifest) == 1
    row = imported.manifest.iloc[0]
    assert (row["label"], row["sha256"]) == (predicted, hashlib.sha256(photo.read_bytes()).hexdigest())

    # the same page at phone width: nothing scrolls sideways
    page.click("#tab-check")
    page.set_viewport_size({"width": 375, "height": 800})
    no_horizontal_overflow(page)
    page.screenshot(path=str(tmp_path / "check-375.png"), full_page=True)
    assert errors == []


def drop_or_paste(page: Page, event: str, name: str, data: bytes) -> None:
    """Dispatch a real ``drop`` on the drop zone or ``paste`` on the document, carrying one image file."""
    page.evaluate(
        """([event, name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "image/jpeg" }));
            const init = { bubbles: true, cancelable: true };
            const e = event === "drop"
                ? new DragEvent("drop", { ...init, dataTransfer: dt })
                : new ClipboardEvent("paste", { ...init, clipboardData: dt });
            (event === "drop" ? document.querySelector("#drop-zone") : document).dispatchEvent(e);
        }""",
        [event, name, base64.b64encode(data).decode()],
    )


def table_column(page: Page, index: int) -> list[str]:
    return page.eval_on_selector_all(
        "#results-table tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent.trim())"
    )


def test_batch_table_drop_paste_keyboard_at_phone_width(
    browser: Browser, server_factory, tmp_path: Path
) -> None:
    # cifake, loopback: no key needed; reviewing without one needs the opt-in of a single-user laptop
    env = {"DEEPTRUST_LOCAL_ADMIN": "true"}
    if TRUST_BUNDLE.exists():
        env["DEEPTRUST_C2PA_TRUST_ANCHORS"] = str(TRUST_BUNDLE)
    server = server_factory(env=env).wait_ready()
    page, errors = open_page(browser, server.url, width=375, height=800)
    no_horizontal_overflow(page)

    # keyboard: Tab reaches the file chooser, whose button and input are labelled; Enter opens it
    chooser = page.get_by_role("button", name="Choose files…")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "choose-files":
            break
    expect(chooser).to_be_focused()
    expect(page.get_by_label("Images to check")).to_have_attribute("type", "file")
    files = []
    for i, size in enumerate((24, 48, 96)):
        path = tmp_path / f"img-{i}.jpg"
        path.write_bytes(jpeg_bytes(size, seed=20 + i))
        files.append(path)
    with page.expect_file_chooser() as chooser_info:
        page.keyboard.press("Enter")
    assert chooser_info.value.is_multiple()
    chooser_info.value.set_files([str(p) for p in files])

    # several files → a table with thumbnails, sortable by a header button
    expect(page.locator("#results-table tbody tr")).to_have_count(3)
    expect(page.locator("#status")).to_contain_text("Checked 3 images")
    thumbs = page.locator("#results-table img.thumb")
    expect(thumbs).to_have_count(3)
    assert all(t.evaluate("e => e.decode().then(() => e.naturalWidth)") > 0 for t in thumbs.all())
    header = page.locator("#results-table th[data-key=p_ai]")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    ascending = [float(v) for v in table_column(page, 3)]
    assert ascending == sorted(ascending)
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert [float(v) for v in table_column(page, 3)] == sorted(ascending, reverse=True)
    page.locator("#results-table th[data-key=filename] button").click()
    assert table_column(page, 1) == ["img-0.jpg", "img-1.jpg", "img-2.jpg"]
    no_horizontal_overflow(page)
    page.screenshot(path=str(tmp_path / "batch-375.png"), full_page=True)

    # CSV download: one row per file, the same p_ai as the table
    with page.expect_download() as download_info:
        page.click("#download-csv")
    assert download_info.value.suggested_filename == "deeptrust-results.csv"
    rows = list(csv.DictReader(Path(download_info.value.path()).read_text().splitlines()))
    assert [r["filename"] for r in rows] == ["img-0.jpg", "img-1.jpg", "img-2.jpg"]
    assert all(r["ok"] == "true" and r["label"] in ("FAKE", "REAL") and r["model"] == "cifake" for r in rows)
    assert sorted(f"{float(r['p_ai']):.3f}" for r in rows) == sorted(table_column(page, 3))
    assert [int(r["width"]) for r in rows] == [24, 48, 96]

    # drag and drop, then paste: each gives a single verdict
    drop_or_paste(page, "drop", "dropped.jpg", jpeg_bytes(40, seed=30))
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#batch")).to_be_hidden()
    expect(page.locator("#facts")).to_contain_text("40 × 40 px")
    drop_or_paste(page, "paste", "pasted.jpg", jpeg_bytes(56, seed=31))
    expect(page.locator("#facts")).to_contain_text("56 × 56 px")
    expect(page.locator("#verdict")).to_have_text(re.compile(r"\((FAKE|REAL)\)$"))
    expect(page.locator("#evidence")).to_contain_text("No evidence beyond the pixels")
    no_horizontal_overflow(page)

    # a file whose signed Content Credentials say a generative model made it: the evidence decides
    if C2PA_DIR.is_dir():  # the SDK test certificates of ../shared/fixtures/provenance
        signed = sign_c2pa(jpeg_bytes(64, seed=32), "JPEG", actions=created("trainedAlgorithmicMedia"))
        drop_or_paste(page, "drop", "generated.jpg", signed)
        expect(page.locator("#verdict")).to_have_text(
            re.compile(r"^AI-generated, by its evidence \(the pixels")
        )
        expect(page.locator("#evidence li[data-kind=c2pa][data-signal=ai]")).to_contain_text("Trusted")
        expect(page.locator("#evidence")).to_contain_text("Verdict rule ai-conclusive")

    # the review tab at phone width (loopback with DEEPTRUST_LOCAL_ADMIN: the local user may review)
    page.click("#tab-review")
    expect(page.locator("#review-status")).to_have_text(re.compile("review"))
    no_horizontal_overflow(page)
    assert errors == []


def test_review_without_a_moderator_key_says_what_is_needed(browser: Browser, server_factory, keys) -> None:
    server = server_factory(env={"DEEPTRUST_AUTH": "required"}).wait_ready()
    page, errors = open_page(browser, server.url)
    page.focus("#tab-check")
    page.keyboard.press("ArrowRight")  # tabs follow the arrow keys
    expect(page.locator("#tab-review")).to_be_focused()
    expect(page.locator("#tab-review")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-review")).to_be_visible()
    expect(page.locator("#panel-check")).to_be_hidden()
    expect(page.locator("#review-status")).to_contain_text("Enter an API key")
    page.click("#key-box summary")
    page.fill("#api-key", keys["user"])
    page.keyboard.press("Tab")
    expect(page.locator("#review-status")).to_contain_text("moderator")
    page.fill("#api-key", keys["moderator"])
    page.keyboard.press("Tab")
    expect(page.locator("#review-status")).to_have_text("Nothing waiting for review.")
    assert errors == []
