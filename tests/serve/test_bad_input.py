"""Bad input gets a clear RFC 7807 problem (413/415/400/422) and never hurts the worker (issue #3, item 4).

The crafted corpus (``badinputs.py``) runs once in-process and once against a real ``deeptrust serve``.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from deeptrust.serve.app import create_app
from deeptrust.serve.problems import PROBLEM_BASE, PROBLEM_JSON
from deeptrust.settings import Settings

from .badinputs import (
    ENV,
    MAX_BODY_BYTES,
    SETTINGS,
    Case,
    corpus,
    encode,
    good_jpeg,
    noise,
    png_header_only,
    tiff_pages,
)
from .conftest import make_settings

CORPUS = corpus()
CATEGORIES = {"odd": 200, "unsupported": 415, "corrupt": 400, "bomb": 422, "too-large": 413}
BATCH_LIMIT = 4


@pytest.fixture(scope="module")
def bad_client(tmp_path_factory) -> Iterator[TestClient]:
    """One app for the whole corpus, with the corpus' pixel and body caps and a small batch limit."""
    home = tmp_path_factory.mktemp("bad-input-home")
    settings = make_settings(home=home, max_batch_images=BATCH_LIMIT, **SETTINGS)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def problem_mismatch(response: httpx.Response, status: int) -> str:
    """'' when ``response`` is an RFC 7807 problem with ``status``, else what is wrong."""
    if response.status_code != status:
        return f"status {response.status_code}, expected {status}: {response.text[:300]}"
    if response.headers.get("content-type") != PROBLEM_JSON:
        return f"content-type {response.headers.get('content-type')!r}, expected {PROBLEM_JSON}"
    body = response.json()
    if body.get("status") != status or not all(body.get(k) for k in ("type", "title", "detail")):
        return f"not a problem document with status {status}: {body}"
    if not body["type"].startswith(PROBLEM_BASE):
        return f"problem type {body['type']!r} is not under {PROBLEM_BASE}"
    return ""


def mismatch(case: Case, response: httpx.Response) -> str:
    """'' when the service answered ``case`` as expected, else what is wrong."""
    if case.status != 200:
        return problem_mismatch(response, case.status)
    if response.status_code != 200:
        return f"status {response.status_code}, expected 200: {response.text[:300]}"
    image = response.json()["image"]
    if (image["width"], image["height"]) != case.size:
        return f"reported {image['width']}x{image['height']}, expected {case.size[0]}x{case.size[1]}"
    kinds = [e["kind"] for e in response.json().get("evidence", [])]
    if case.evidence and case.evidence not in kinds:
        return f"no {case.evidence!r} evidence entry, got {kinds}"
    return ""


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert not (wrong := problem_mismatch(response, status)), wrong
    return response.json()


def assert_serves_a_good_image(http: TestClient | httpx.Client) -> None:
    assert http.get("/readyz").status_code == 200
    r = http.post("/v1/predict", content=good_jpeg(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["image"]["width"] == 48


def server_errors(metrics_text: str) -> list[str]:
    """Request counters with a 5xx status in a Prometheus scrape."""
    pattern = r'^deeptrust_http_requests_total\{[^}]*status="5\d\d"[^}]*\} ([0-9.e+]+)$'
    return [m.group(0) for m in re.finditer(pattern, metrics_text, re.M) if float(m.group(1)) > 0]


# -- the corpus ------------------------------------------------------------------------------------------


def test_corpus_is_big_and_covers_every_category():
    assert len(CORPUS) >= 50
    for case in CORPUS:
        prefix = next(p for p in CATEGORIES if case.id.startswith(p + "-"))
        assert case.status == CATEGORIES[prefix], case.id
        assert (case.size is not None) == (case.status == 200), case.id
    counts = {p: sum(c.id.startswith(p + "-") for c in CORPUS) for p in CATEGORIES}
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_corpus_in_process(bad_client, case):
    assert not (wrong := mismatch(case, bad_client.post("/v1/predict", **case.request()))), wrong


def test_corpus_through_explain(bad_client):
    """/v1/explain decodes the same way and also draws a heatmap: same statuses, no 500."""
    failures = []
    for case in CORPUS:
        if wrong := mismatch(case, bad_client.post("/v1/explain", **case.request())):
            failures.append(f"{case.id}: {wrong}")
    assert not failures, "\n".join(failures)


def test_corpus_through_batch(bad_client):
    """Every multipart case as a batch item: the request succeeds, each item carries its own status."""
    cases = [c for c in CORPUS if not c.raw and c.status != 413]
    failures = []
    for start in range(0, len(cases), BATCH_LIMIT):
        chunk = cases[start : start + BATCH_LIMIT]
        files = [("files", (c.id, c.data, c.content_type)) for c in chunk]
        r = bad_client.post("/v1/predict/batch", files=files)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["n"] == len(chunk) and body["errors"] == sum(c.status != 200 for c in chunk)
        for case, item in zip(chunk, body["results"], strict=True):
            assert item["filename"] == case.id
            if case.status == 200:
                got = (
                    (item["result"]["image"]["width"], item["result"]["image"]["height"])
                    if item["ok"]
                    else item
                )
                if got != case.size:
                    failures.append(f"{case.id}: {got}, expected {case.size}")
            elif item["ok"] or item["error"]["status"] != case.status:
                failures.append(f"{case.id}: {item.get('error') or 'ok'}, expected {case.status}")
            elif not all(item["error"].get(k) for k in ("type", "title", "detail")):
                failures.append(f"{case.id}: incomplete problem {item['error']}")
    assert not failures, "\n".join(failures)


def test_still_serves_and_no_5xx_after_the_corpus(bad_client):
    for case in CORPUS[:3]:  # when run alone, still exercise something before checking
        bad_client.post("/v1/predict", **case.request())
    assert_serves_a_good_image(bad_client)
    assert not server_errors(bad_client.get("/metrics").text)


def test_a_many_page_tiff_costs_no_more_than_its_first_page(bad_client):
    """Only the first page is read: 9000 pages are not walked (counting them took seconds of decoding)."""
    r = bad_client.post("/v1/predict", files={"file": ("pages.tif", tiff_pages(9000), "image/tiff")})
    assert r.status_code == 200 and r.json()["timings_ms"]["decode"] < 500


def test_corpus_against_a_real_server(server_factory):
    """The whole corpus over HTTP against `deeptrust serve`: right statuses, and the worker survives."""
    server = server_factory(env=ENV).wait_ready()
    failures = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for case in CORPUS:
            try:
                response = http.post("/v1/predict", **case.request())
            except httpx.TransportError as exc:
                failures.append(f"{case.id}: {exc!r}")
                continue
            if wrong := mismatch(case, response):
                failures.append(f"{case.id}: {wrong}")
        assert server.proc.poll() is None, server.log.read_text()[-3000:]
        assert_serves_a_good_image(http)
        assert not server_errors(http.get("/metrics").text)
    assert not failures, "\n".join(failures)
    assert "Exception in ASGI application" not in server.log.read_text()


# -- body size: 413 while streaming ----------------------------------------------------------------------


def chunks(total: int, *, head: bytes = b"", tail: bytes = b"", piece: int = 64 * 1024) -> Iterator[bytes]:
    """A body without Content-Length (httpx sends it chunked): head, ``total`` zero bytes, tail."""
    yield head
    for sent in range(0, total, piece):
        yield bytes(min(piece, total - sent))
    yield tail


def multipart_chunks(total: int) -> tuple[Iterator[bytes], dict[str, str]]:
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n\xff\xd8\xff'
    return chunks(total, head=head, tail=b"\r\n--b--\r\n"), {
        "content-type": "multipart/form-data; boundary=b"
    }


def test_default_body_cap_is_20_mib(client):
    assert Settings().max_body_bytes == make_settings().max_body_bytes == 20 * 1024 * 1024
    cap = 20 * 1024 * 1024
    over = client.post(
        "/v1/predict", content=b"\xff\xd8\xff" + bytes(cap), headers={"content-type": "image/jpeg"}
    )
    assert "20,971,520 bytes" in assert_problem(over, 413)["detail"]
    streamed = client.post("/v1/predict", content=chunks(cap + 1), headers={"content-type": "image/jpeg"})
    assert_problem(streamed, 413)
    at_cap = client.post(
        "/v1/predict", content=b"\xff\xd8" + bytes(cap - 2), headers={"content-type": "image/jpeg"}
    )
    assert_problem(at_cap, 400)  # not refused for its size: read, then found corrupt


@pytest.mark.parametrize(
    "path,multipart",
    [("/v1/predict", False), ("/v1/predict", True), ("/v1/explain", False), ("/v1/predict/batch", True)],
    ids=["predict-raw", "predict-multipart", "explain-raw", "batch-multipart"],
)
def test_chunked_upload_over_the_cap_is_413(bad_client, path, multipart):
    if multipart:
        body, headers = multipart_chunks(2 * MAX_BODY_BYTES)
    else:
        body, headers = chunks(2 * MAX_BODY_BYTES), {"content-type": "image/jpeg"}
    assert_problem(bad_client.post(path, content=body, headers=headers), 413)


def test_lying_content_length_is_capped_while_streaming(bad_client):
    """An ASGI server that does not enforce Content-Length still cannot push more than the cap."""
    headers = {"content-type": "image/jpeg", "content-length": "100"}
    assert_problem(bad_client.post("/v1/predict", content=bytes(2 * MAX_BODY_BYTES), headers=headers), 413)
    # declared over the cap: refused up front, whatever is actually sent
    headers["content-length"] = str(MAX_BODY_BYTES + 1)
    assert_problem(bad_client.post("/v1/predict", content=good_jpeg(), headers=headers), 413)
    assert_serves_a_good_image(bad_client)


def test_non_numeric_content_length_is_a_4xx(bad_client):
    headers = {"content-type": "image/jpeg", "content-length": "abc"}
    assert 400 <= bad_client.post("/v1/predict", content=good_jpeg(), headers=headers).status_code < 500


def http_exchange(port: int, request: bytes, *, send_more: bytes = b"") -> bytes:
    """Send raw bytes, read until the server closes or stops talking; what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        with contextlib.suppress(OSError):  # the server may answer and close before reading it all
            sock.sendall(send_more)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def test_body_cap_against_a_real_server(server_factory):
    server = server_factory(env=ENV).wait_ready()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        chunked = http.post(
            "/v1/predict", content=chunks(2 * MAX_BODY_BYTES), headers={"content-type": "image/png"}
        )
        assert_problem(chunked, 413)
        body, headers = multipart_chunks(2 * MAX_BODY_BYTES)
        assert_problem(http.post("/v1/predict", content=body, headers=headers), 413)
        declared = http.post(
            "/v1/predict", content=bytes(MAX_BODY_BYTES + 1), headers={"content-type": "image/png"}
        )
        assert_problem(declared, 413)

        port = server.port
        head = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n"
        head += "Content-Type: image/jpeg\r\n\r\n"
        # claims more than the cap but sends 3 bytes: answered at once, without waiting for the rest
        reply = http_exchange(port, head.format(MAX_BODY_BYTES + 1).encode() + b"\xff\xd8\xff")
        assert reply.startswith(b"HTTP/1.1 413 ") and PROBLEM_JSON.encode() in reply
        # claims 100 bytes and sends 2 MiB: the app gets at most 100 bytes; the HTTP layer rejects the
        # surplus as a malformed next request (400) and drops the connection
        lie = head.format(100).encode()
        reply = http_exchange(port, lie, send_more=b"\xff\xd8\xff" + bytes(2 * MAX_BODY_BYTES))
        assert reply.startswith(b"HTTP/1.1 400 ") and b" 500 " not in reply
        # not a number: refused by the HTTP layer, never reaching the app
        reply = http_exchange(port, head.replace("{}", "abc").encode() + b"\xff\xd8\xff")
        assert reply.startswith(b"HTTP/1.1 400 ")
        # hangs up halfway through the body: an aborted upload, not a crash or a 5xx
        logged = server.log.read_text().count('"path": "/v1/predict"')
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head.format(500_000).encode() + good_jpeg()[:1000])
        deadline = time.monotonic() + 10
        while server.log.read_text().count('"path": "/v1/predict"') == logged and time.monotonic() < deadline:
            time.sleep(0.05)

        assert server.proc.poll() is None
        assert_serves_a_good_image(http)
        assert not server_errors(http.get("/metrics").text)
    assert "Exception in ASGI application" not in server.log.read_text()


# -- multipart and raw-body edge cases -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"files": {"image": ("a.jpg", good_jpeg(), "image/jpeg")}},
        {"data": {"file": "not a file, a text field"}, "files": {"other": ("a", b"1")}},
        {"content": b"--b--\r\n", "headers": {"content-type": "multipart/form-data; boundary=b"}},
        {"content": b"", "headers": {"content-type": "multipart/form-data; boundary=b"}},
    ],
    ids=["other-field-name", "text-field-named-file", "no-parts", "empty-body"],
)
def test_multipart_without_a_file_field_is_422(bad_client, kwargs):
    body = assert_problem(bad_client.post("/v1/predict", **kwargs), 422)
    assert "'file'" in body["detail"]


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/explain"])
def test_multipart_with_an_empty_file_is_400(bad_client, path):
    body = assert_problem(bad_client.post(path, files={"file": ("a.jpg", b"", "image/jpeg")}), 400)
    assert "empty" in body["detail"]


@pytest.mark.parametrize(
    "content_type", ["image/jpeg", "image/png", "image/webp", "application/octet-stream"]
)
def test_empty_raw_body_with_an_image_type_is_400(bad_client, content_type):
    body = assert_problem(
        bad_client.post("/v1/predict", content=b"", headers={"content-type": content_type}), 400
    )
    assert "empty" in body["detail"]


@pytest.mark.parametrize(
    "content_type,body",
    [
        ("multipart/form-data", b"no boundary"),
        ("multipart/form-data; boundary=xyz", b"garbage that is not multipart" * 4),
    ],
    ids=["missing-boundary", "garbage"],
)
def test_malformed_multipart_is_400(bad_client, content_type, body):
    assert_problem(bad_client.post("/v1/predict", content=body, headers={"content-type": content_type}), 400)


def test_two_files_where_one_is_expected_is_400(bad_client):
    files = [("file", ("a.jpg", good_jpeg(), "image/jpeg")), ("file", ("b.jpg", good_jpeg(), "image/jpeg"))]
    assert_problem(bad_client.post("/v1/predict", files=files), 400)


def test_explain_as_png_still_answers_errors_as_problems(bad_client):
    headers = {"content-type": "image/jpeg", "accept": "image/png"}
    assert_problem(bad_client.post("/v1/explain", content=good_jpeg()[:200], headers=headers), 400)


# -- the batch endpoint ----------------------------------------------------------------------------------


def test_batch_with_good_and_bad_images_is_200_with_per_item_errors(bad_client):
    items = [
        ("good.jpg", good_jpeg(), None),
        ("corrupt.png", encode(noise(20, 20), "PNG")[:60], 400),
        ("text.txt", b"just some text", 415),
        ("bomb.png", png_header_only(100_000, 100_000), 422),
    ]
    r = bad_client.post("/v1/predict/batch", files=[("files", (n, d, "image/png")) for n, d, _ in items])
    assert r.status_code == 200
    body = r.json()
    assert body["n"] == 4 and body["errors"] == 3
    assert [it["filename"] for it in body["results"]] == [n for n, _, _ in items]
    assert body["results"][0]["ok"] and body["results"][0]["result"]["image"]["width"] == 48
    for item, (_, _, status) in zip(body["results"][1:], items[1:], strict=True):
        assert not item["ok"] and item["error"]["status"] == status
        assert (
            item["error"]["type"].startswith(PROBLEM_BASE)
            and item["error"]["title"]
            and item["error"]["detail"]
        )
    files = [("files", ("good.webp", encode(noise(30, 20), "WEBP"), "image/webp")), ("files", ("e.jpg", b""))]
    body = bad_client.post("/v1/predict/batch", files=files).json()
    assert [it["ok"] for it in body["results"]] == [True, False] and body["errors"] == 1
    assert body["results"][1]["error"]["status"] == 400 and "empty" in body["results"][1]["error"]["detail"]


def test_batch_over_the_image_limit_is_422(bad_client):
    files = [("files", (f"{i}.jpg", good_jpeg(16, seed=i), "image/jpeg")) for i in range(BATCH_LIMIT + 1)]
    body = assert_problem(bad_client.post("/v1/predict/batch", files=files), 422)
    assert f"at most {BATCH_LIMIT}" in body["detail"]
    files = files[:BATCH_LIMIT]
    assert bad_client.post("/v1/predict/batch", files=files).json()["errors"] == 0


def test_batch_far_over_the_image_limit_is_422(bad_client):
    files = [("files", (f"{i}.jpg", good_jpeg(16, seed=i), "image/jpeg")) for i in range(3 * BATCH_LIMIT)]
    assert_problem(bad_client.post("/v1/predict/batch", files=files), 422)


@pytest.mark.parametrize(
    "kwargs,status",
    [
        ({"content": good_jpeg(), "headers": {"content-type": "image/jpeg"}}, 415),
        ({"files": {"file": ("a.jpg", good_jpeg(), "image/jpeg")}}, 422),
        ({"data": {"files": "text, not a file"}, "files": {"x": ("a", b"1")}}, 422),
    ],
    ids=["raw-body", "field-named-file", "text-field-named-files"],
)
def test_batch_request_errors(bad_client, kwargs, status):
    assert_problem(bad_client.post("/v1/predict/batch", **kwargs), status)
