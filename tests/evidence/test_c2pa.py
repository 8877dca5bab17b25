"""Content Credentials on the shared C2PA fixtures and on files signed here with the SDK's test certificates.

What the SDK (c2pa-python 0.38) says about each shared file was found by reading them: with the test
anchors the test-certificate files are Trusted, without them Valid (``signingCredential.untrusted``); the
tampered ones are Invalid with their failure codes; ``cloudx.jpg`` only points to a remote store.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deeptrust.evidence.c2pa_reader import load_trust_anchors, sdk_settings, warm_up
from deeptrust.evidence.collect import collect
from deeptrust.settings import Settings
from tests._bad_images import hostile_metadata, remote_manifest_jpeg
from tests.evidence._builders import C2PA_DIR, TRUST_BUNDLE, created, encode, picture, sign_c2pa

pytestmark = pytest.mark.skipif(not C2PA_DIR.is_dir(), reason="../shared/fixtures/provenance is missing")

TRUSTED = Settings(c2pa_trust_anchors=str(TRUST_BUNDLE))
UNTRUSTED = Settings(c2pa_trust_anchors="")


def c2pa_entry(data: bytes, settings: Settings):
    entries = [e for e in collect(data, settings=settings) if e.kind == "c2pa"]
    assert len(entries) == 1, entries
    return entries[0]


def fixture(name: str) -> bytes:
    return (C2PA_DIR / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "settings", "state", "signal", "strength", "codes"),
    [
        ("CA.jpg", TRUSTED, "Trusted", "edited", "weak", []),
        ("CA.jpg", UNTRUSTED, "Valid", "edited", "weak", ["signingCredential.untrusted"]),
        ("C.jpg", TRUSTED, "Trusted", "ai", "conclusive", []),  # make_test_images declares algorithmicMedia
        (
            "adobe-20220124-E-dat-CA.jpg",
            TRUSTED,
            "Invalid",
            "tampered",
            "strong",
            ["assertion.dataHash.mismatch"],
        ),
        (
            "adobe-20220124-E-sig-CA.jpg",
            TRUSTED,
            "Invalid",
            "tampered",
            "strong",
            ["claimSignature.mismatch"],
        ),
        ("adobe-20220124-E-clm-CAICAI.jpg", TRUSTED, "Invalid", "tampered", "strong", None),
        ("ocsp.jpg", TRUSTED, "Valid", "ai", "conclusive", ["signingCredential.untrusted"]),  # Firefly edit
        ("nikon-20221019-building.jpeg", TRUSTED, "Invalid", "tampered", "moderate", None),  # expired cert
    ],
)
def test_shared_fixtures(name, settings, state, signal, strength, codes):
    entry = c2pa_entry(fixture(name), settings)
    assert (entry.data["state"], entry.signal, entry.strength) == (state, signal, strength)
    if codes is not None:
        assert entry.data["failure_codes"] == codes
    assert entry.data["signer"]


def test_what_a_manifest_says_is_reported():
    entry = c2pa_entry(fixture("ocsp.jpg"), TRUSTED)
    data = entry.data
    assert data["claim_generator"].startswith("Adobe_Photoshop/26.9.0") and data["signer"] == "Adobe Inc."
    assert data["signing_time"] == "2025-08-13T16:30:55+00:00"
    edit = {"action": "c2pa.edited", "software_agent": "Adobe Firefly"}
    assert edit | {"digital_source_type": "compositeWithTrainedAlgorithmicMedia"} in data["actions"]
    assert data["ingredients"] == [{"title": "ocsp.jpg", "relationship": "componentOf"}]
    assert "compositeWithTrainedAlgorithmicMedia" in entry.detail and "Adobe Inc." in entry.detail
    nested = c2pa_entry(fixture("adobe-20220124-CAICAI.jpg"), TRUSTED).data
    assert len(nested["ingredients"]) >= 1 and nested["ingredient_actions"]


def test_files_without_credentials_cost_no_sdk_call():
    for name in ("earth_apollo17.jpg", "sample1.png", "sample1.webp"):
        assert [e for e in collect(fixture(name), settings=TRUSTED) if e.kind == "c2pa"] == []


def test_a_remote_manifest_is_named_not_fetched():
    entry = c2pa_entry(fixture("cloudx.jpg"), TRUSTED)
    assert (entry.signal, entry.strength, entry.data["state"]) == ("none", "weak", "Remote")
    assert entry.data["remote_url"].startswith("https://cai-manifestx.adobe.com/manifests/")
    assert "not fetched" in entry.detail


def test_a_provenance_note_that_is_no_url_is_no_manifest():
    [remote] = [e for e in collect(remote_manifest_jpeg(), settings=TRUSTED) if e.kind == "c2pa"]
    assert remote.data["remote_url"] == "https://c2pa.example.invalid/manifests/abc.c2pa"
    note = remote_manifest_jpeg("Donated by the family in 1990")  # Dublin Core's custody note
    assert [e for e in collect(note, settings=TRUSTED) if e.kind == "c2pa"] == []


def test_an_unsupported_algorithm_is_reported():
    entry = c2pa_entry(fixture("no_alg.jpg"), TRUSTED)
    assert (entry.signal, entry.data["state"]) == ("none", "Unsupported")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_signed_here_generated_image_is_ai_in_every_format(fmt):
    signed = sign_c2pa(
        encode(picture(), fmt), fmt, actions=created("trainedAlgorithmicMedia", "Adobe Firefly")
    )
    trusted = c2pa_entry(signed, TRUSTED)
    assert (trusted.data["state"], trusted.signal, trusted.strength) == ("Trusted", "ai", "conclusive")
    assert trusted.data["actions"][0]["digital_source_type"] == "trainedAlgorithmicMedia"
    assert c2pa_entry(signed, UNTRUSTED).data["state"] == "Valid"  # AI even from an untrusted signer


def test_a_trusted_capture_is_real_and_an_untrusted_one_only_moderate():
    signed = sign_c2pa(encode(picture(), "JPEG"), "JPEG", actions=created("digitalCapture", "Camera 1.0"))
    assert (c2pa_entry(signed, TRUSTED).signal, c2pa_entry(signed, TRUSTED).strength) == (
        "real",
        "conclusive",
    )
    assert (c2pa_entry(signed, UNTRUSTED).signal, c2pa_entry(signed, UNTRUSTED).strength) == (
        "real",
        "moderate",
    )


def test_pixels_changed_after_signing_are_tampered():
    signed = bytearray(sign_c2pa(encode(picture(), "PNG"), "PNG", actions=created("digitalCapture")))
    idat = signed.index(b"IDAT")
    signed[idat + 40] ^= 0xFF  # one byte of compressed pixel data
    entry = c2pa_entry(bytes(signed), TRUSTED)
    assert (entry.signal, entry.strength) == ("tampered", "strong")
    assert any("hash" in code.lower() for code in entry.data["failure_codes"]), entry.data


def test_trust_anchors_as_path_or_pem_text(tmp_path: Path):
    pem = TRUST_BUNDLE.read_text()
    assert load_trust_anchors(str(TRUST_BUNDLE)) == pem and load_trust_anchors(pem) == pem.strip()
    signed = sign_c2pa(encode(picture(), "JPEG"), "JPEG", actions=created("digitalCapture"))
    assert c2pa_entry(signed, Settings(c2pa_trust_anchors=pem)).data["state"] == "Trusted"
    with pytest.raises(ValueError, match="cannot read the PEM bundle"):
        warm_up(Settings(c2pa_trust_anchors=str(tmp_path / "missing.pem")))
    (tmp_path / "empty.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="no PEM certificate"):
        load_trust_anchors(str(tmp_path / "empty.pem"))


def test_the_environment_variable_sets_the_anchors(monkeypatch):
    monkeypatch.setenv("DEEPTRUST_C2PA_TRUST_ANCHORS", str(TRUST_BUNDLE))
    assert Settings().c2pa_trust_anchors == str(TRUST_BUNDLE)
    assert sdk_settings("PEM")["verify"]["remote_manifest_fetch"] is False


NO_NETWORK_SCRIPT = """
import sys
from pathlib import Path
from deeptrust.evidence.collect import collect
from deeptrust.settings import Settings
# the pixel readers (watermark, PDQ) make no network calls but add seconds, and ONNX Runtime 1.32's library
# (imported with deeptrust) itself connects to mobile.events.data.microsoft.com some seconds after start
settings = Settings(c2pa_trust_anchors=sys.argv[2], watermark_decode=False, hash_lists=False)
if sys.argv[1] == "sdk-defaults":  # the SDK on its own: proves the proxy would see a fetch
    import io, c2pa
    try:
        c2pa.Reader("image/jpeg", io.BytesIO(Path(sys.argv[3]).read_bytes()))
    except c2pa.C2paError as exc:
        print(exc)
else:
    for path in sys.argv[3:]:
        print(path, [e.data.get("state") for e in collect(Path(path).read_bytes(), settings=settings)])
"""


def connections_during(mode: str, paths: list[Path]) -> tuple[list[bytes], str]:
    """Run the reader in a child whose HTTP(S) proxy is a socket of ours: every fetch knocks there."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    seen: list[bytes] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                seen.append(conn.recv(200))

    thread = threading.Thread(target=accept)
    thread.start()
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = os.environ | {
        k: proxy for k in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy")
    }
    env.pop("NO_PROXY", None), env.pop("no_proxy", None)
    args = [sys.executable, "-c", NO_NETWORK_SCRIPT, mode, str(TRUST_BUNDLE), *map(str, paths)]
    try:
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    finally:
        done.set()
        thread.join()
        listener.close()
    return seen, out


def test_no_network_call_for_any_fixture(tmp_path):
    seen, _ = connections_during("sdk-defaults", [C2PA_DIR / "cloudx.jpg"])
    assert seen and seen[0].startswith(b"CONNECT cai-manifestx.adobe.com:443"), (
        "the proxy must see SDK fetches"
    )
    files = sorted(p for p in C2PA_DIR.iterdir() if p.suffix in (".jpg", ".jpeg", ".png", ".webp"))
    for name, data in hostile_metadata().items():  # a remote pointer and a damaged store of our own
        if name.startswith("c2pa-"):
            (tmp_path / f"{name}.jpg").write_bytes(data)
            files.append(tmp_path / f"{name}.jpg")
    seen, out = connections_during("deeptrust", files)
    assert seen == [], seen
    assert "cloudx.jpg ['Remote'" in out and "c2pa-remote-manifest.jpg ['Remote'" in out
    assert out.count("\n") == len(files)


def test_damaged_manifests_are_tampered_or_unreadable_never_an_error():
    """Random bytes of a signed file's JUMBF segment changed: the SDK must neither crash nor hang."""
    signed = sign_c2pa(encode(picture(), "JPEG"), "JPEG", actions=created("trainedAlgorithmicMedia"))
    start = signed.index(b"\xff\xeb")
    end = start + 2 + int.from_bytes(signed[start + 2 : start + 4], "big")
    rng = random.Random(0)
    states = Counter()
    for _ in range(50):
        damaged = bytearray(signed)
        for _ in range(rng.choice((1, 2, 8))):
            damaged[rng.randrange(start + 4, end)] = rng.randrange(256)
        entry = c2pa_entry(bytes(damaged), TRUSTED)
        states[(entry.data["state"], entry.signal)] += 1
    assert states[("Invalid", "tampered")] >= 40, states  # a changed byte the claim does not cover is rare
    assert set(states) <= {("Invalid", "tampered"), ("Unreadable", "tampered"), ("Trusted", "ai")}, states


def test_threads_share_one_sdk_context():
    names = ("C.jpg", "ocsp.jpg", "adobe-20220124-E-dat-CA.jpg", "cloudx.jpg")
    files = [fixture(n) for n in names]
    expected = [c2pa_entry(f, TRUSTED).data["state"] for f in files]
    with ThreadPoolExecutor(4) as pool:
        states = list(pool.map(lambda i: c2pa_entry(files[i % 4], TRUSTED).data["state"], range(40)))
    assert states == expected * 10
