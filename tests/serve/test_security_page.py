"""The web page under the service's CSP, and a foreign page attacking it, in real headless Chromium against a
real ``deeptrust serve`` (issue 17, findings 1 and 8).

``http://localhost:PORT`` and ``http://127.0.0.1:PORT`` are two origins of one server, both allowed hosts:
the first plays the attacker's page, the second the service.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from ..web.test_e2e import CHROMIUM, TIMEOUT_MS
from .conftest import jpeg_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def test_the_page_works_under_its_csp(browser: Browser, server_factory, tmp_path) -> None:
    server = server_factory(env={"DEEPTRUST_LOCAL_ADMIN": "true"}).wait_ready()  # the page's Review tab too
    photo = tmp_path / "x.jpg"
    photo.write_bytes(jpeg_bytes(96, seed=4))
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(server.url + "/")

    page.set_input_files("#file-input", str(photo))  # one image: verdict, heatmap (data:), original (blob:)
    expect(page.locator("#verdict")).to_have_text(re.compile(r"(AI-generated|real photo)"))
    assert page.eval_on_selector("#heatmap", "e => e.decode().then(() => e.naturalWidth)") == 96
    assert page.eval_on_selector("#original", "e => e.decode().then(() => e.naturalWidth)") == 96
    assert page.eval_on_selector("#p-ai-fill", "e => getComputedStyle(e).width") != "0px"  # CSSOM styles
    page.click("#wrong-button")
    page.click("#send-feedback")  # a same-origin POST: Origin and Sec-Fetch-Site say so
    expect(page.locator("#feedback-status")).to_have_text(re.compile(r"sent for review as item #\d+"))
    page.click("#tab-review")
    thumb = page.locator("#review-list img").first
    expect(thumb).to_have_attribute("src", re.compile("^blob:"))
    with page.expect_download() as download:
        page.click("#export-link")  # a blob: link
    assert download.value.suggested_filename == "deeptrust-reviewed.tar.gz"
    assert problems == []


ATTACK = """<script>
(async () => {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array([255, 216, 255])], {type: "image/jpeg"}), "x.jpg");
  for (const [k, v] of [["predicted_label", "REAL"], ["corrected_label", "FAKE"], ["p_ai", "0.4"],
                        ["model_version", "1"]]) form.append(k, v);
  const sent = [];
  for (const [path, body] of [["/v1/feedback", form], ["/v1/models/reload", undefined]]) {
    // refused before its body is read, an upload may see the connection close: either way, it was sent
    try { await fetch("TARGET" + path, {method: "POST", mode: "no-cors", body}); sent.push("answered"); }
    catch (err) { sent.push(String(err)); }
  }
  document.title = sent.join("; ");
  document.getElementById("f").submit();  // the classic CSRF: an auto-submitted form
})();
</script><form id="f" method="POST" action="TARGET/v1/models/reload"></form>"""


@contextlib.contextmanager
def foreign_site(html: str) -> Iterator[str]:
    """A real page on another origin of this machine (a loopback server of its own: Chrome lets only pages
    from a local address reach loopback ones, so an intercepted route would prove nothing)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}/attack"
    finally:
        httpd.shutdown()


def test_a_foreign_page_cannot_post_to_the_service(browser: Browser, server_factory) -> None:
    server = server_factory(env={"DEEPTRUST_LOCAL_ADMIN": "true"}).wait_ready()  # anonymous = admin here
    page = browser.new_context().new_page()
    with foreign_site(ATTACK.replace("TARGET", server.url)) as evil:
        page.goto(evil)
        page.wait_for_url(re.compile(r"/v1/models/reload$"))  # the form's navigation, after both fetches
    metrics = httpx.get(server.url + "/metrics").text
    assert "deeptrust_model_reloads_total 0.0" in metrics
    refused = r'deeptrust_http_requests_total\{method="POST",route="unmatched",status="403"\} 3\.0'
    assert re.search(refused, metrics), metrics
    assert httpx.get(server.url + "/v1/review?status=all").json()["total"] == 0


SWAGGER_STUB = """window.SwaggerUIBundle = function (config) { window.swaggerConfig = config.url; };
window.SwaggerUIBundle.presets = { apis: {} };
window.SwaggerUIBundle.SwaggerUIStandalonePreset = {};"""


def test_the_docs_page_runs_its_inline_script_under_its_csp(browser: Browser, server_factory) -> None:
    """The CDN is out of reach here: its files are stubbed; what is tested is that the page's policy lets
    the CDN's script and the page's own inline script (allowed by hash) run, and nothing else is needed."""
    server = server_factory().wait_ready()
    page = browser.new_context().new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def cdn(route) -> None:  # type: ignore[no-untyped-def]
        js = route.request.url.endswith(".js")
        route.fulfill(content_type="text/javascript" if js else "text/css", body=SWAGGER_STUB if js else "")

    page.route("https://cdn.jsdelivr.net/**", cdn)
    page.route("https://fastapi.tiangolo.com/**", lambda route: route.fulfill(status=404))
    page.goto(server.url + "/docs")
    page.wait_for_function("window.swaggerConfig === '/openapi.json'")
    assert problems == []
