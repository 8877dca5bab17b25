"""Content Credentials (C2PA): read and validate a file's manifest store with the official SDK (c2pa-python).

Only files whose container carries a C2PA store (JPEG APP11 JUMBF, PNG ``caBX``, WebP ``C2PA``, TIFF tag
0xCD41) or whose XMP points to one (``dcterms:provenance``) reach the SDK; every other upload costs nothing
here. The SDK fetches remote manifests and OCSP responses by default: both are switched off
(``verify.remote_manifest_fetch``, ``verify.ocsp_fetch``), so no upload ever causes a network call — a
manifest stored remotely becomes an entry saying where it is, not fetched. Trust anchors come from
``DEEPTRUST_C2PA_TRUST_ANCHORS`` (a PEM bundle: a path or the PEM text); without them no signer is
Trusted, only Valid.

How the SDK's answer maps to evidence (the fusion rules in ``fusion.py`` then decide):

=================================================  ========  ===========
manifest                                           signal    strength
=================================================  ========  ===========
Valid or Trusted, declares an AI digitalSourceType ai        conclusive
  (here or in an ingredient's manifest)
Valid or Trusted, an action by a known generator   ai        strong
Trusted, declares a capture (digitalCapture …)     real      conclusive
Valid (untrusted signer), declares a capture       real      moderate
Valid or Trusted, edits only / nothing declared    edited /  weak
                                                   none
Invalid: content or claim changed after signing    tampered  strong
Invalid: only the certificate (expired, revoked…)  tampered  moderate
unreadable (truncated, malformed)                  tampered  moderate
unsupported algorithm, remote (not fetched)        none      weak
=================================================  ========  ===========
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deeptrust.evidence.generator import KNOWN_GENERATORS
from deeptrust.evidence.types import Evidence, Signal, Strength
from deeptrust.evidence.xmp import SOURCE_TYPE_WORDS, SOURCE_TYPES, source_type_name, xmp_fields

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}
# Failure codes about the signer's certificate, not the content: the file may be intact.
CREDENTIAL_CODES = ("signingCredential.", "timeStamp.", "cawg.")
MAX_LIST = 20

_contexts: dict[str, Any] = {}
_lock = threading.Lock()


def load_trust_anchors(value: str) -> str:
    """``DEEPTRUST_C2PA_TRUST_ANCHORS``: PEM text, or the path of a PEM bundle; '' for none."""
    value = value.strip()
    if not value or "-----BEGIN" in value:
        return value
    path = Path(value).expanduser()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(
            f"DEEPTRUST_C2PA_TRUST_ANCHORS={value!r}: cannot read the PEM bundle ({exc})"
        ) from exc
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"DEEPTRUST_C2PA_TRUST_ANCHORS={value!r}: no PEM certificate in that file")
    return text


def sdk_settings(anchors_pem: str) -> dict[str, Any]:
    """The SDK settings every read uses: nothing fetched from the network, trust from our anchors."""
    settings: dict[str, Any] = {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True}
    }
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem}
    return settings


def _context(anchors: str) -> Any:
    """One SDK context per anchor bundle (building one parses the bundle), shared by threads."""
    with _lock:
        context = _contexts.get(anchors)
        if context is None:
            import c2pa  # type: ignore[import-untyped]  # the native SDK loads on the first file that carries credentials

            context = _contexts[anchors] = c2pa.Context.from_dict(sdk_settings(load_trust_anchors(anchors)))
        return context


def warm_up(settings: Settings) -> None:
    """Load the SDK and parse the trust anchors now (a bad DEEPTRUST_C2PA_TRUST_ANCHORS fails the start)."""
    _context(settings.c2pa_trust_anchors)


def remote_manifest_url(source: Source) -> str:
    """Where XMP says the manifest is kept (``dcterms:provenance``, when it is a URL), or ''.

    ``dcterms:provenance`` is also Dublin Core's free-text custody note ("donated in 1990"): only an
    http(s) URL is taken for a manifest's address."""
    if not source.metadata.xmp:
        return ""
    fields, _ = xmp_fields(source)
    urls = [v for v in fields.get("provenance", []) if v.startswith(("https://", "http://"))]
    return urls[0] if urls else ""


def read_c2pa(source: Source, settings: Settings) -> list[Evidence]:
    meta = source.metadata
    remote = "" if meta.jumbf else remote_manifest_url(source)
    if not (meta.jumbf or remote) or meta.format not in MIME:
        return []
    import c2pa  # type: ignore[import-untyped]

    try:
        reader = c2pa.Reader(
            MIME[meta.format], io.BytesIO(source.data), None, _context(settings.c2pa_trust_anchors)
        )
        try:
            store = json.loads(reader.json())
        finally:
            reader.close()
    except c2pa.C2paError.ManifestNotFound:
        return []  # a remote pointer the SDK does not take for one, or a store it does not see
    except c2pa.C2paError as exc:
        return [_unreadable(str(exc), remote)]
    return [describe_store(store)]


def _unreadable(message: str, remote: str) -> Evidence:
    message = message[:300]
    if message.startswith("Remote"):
        url = remote or message.rsplit(" ", 1)[-1]
        detail = f"Content Credentials are stored remotely ({url[:200]}); not fetched: remote fetching is off"
        return Evidence("c2pa", "none", "weak", detail, {"state": "Remote", "remote_url": url[:500]})
    if "unknown algorithm" in message or "NotSupported" in message:
        detail = f"Content Credentials present but not verifiable here: {message}"
        return Evidence("c2pa", "none", "weak", detail, {"state": "Unsupported", "error": message})
    detail = f"Content Credentials present but unreadable (damaged or malformed): {message}"
    return Evidence("c2pa", "tampered", "moderate", detail, {"state": "Unreadable", "error": message})


def _actions(manifest: dict[str, Any]) -> list[dict[str, str]]:
    actions = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            agent = action.get("softwareAgent")
            agent = agent.get("name", "") if isinstance(agent, dict) else str(agent or "")
            entry = {"action": str(action.get("action", ""))[:100], "software_agent": agent[:200]}
            if action.get("digitalSourceType"):
                entry["digital_source_type"] = source_type_name(str(action["digitalSourceType"]))
            actions.append(entry)
    return actions[:MAX_LIST]


def _summary(store: dict[str, Any]) -> dict[str, Any]:
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest"), {})
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [str(f.get("code", "")) for f in results.get("failure") or []]
    for delta in (store.get("validation_results") or {}).get("ingredientDeltas") or []:
        failures += [
            str(f.get("code", "")) for f in (delta.get("validationDeltas") or {}).get("failure") or []
        ]
    info = active.get("claim_generator_info") or [{}]
    signature = active.get("signature_info") or {}
    others = [m for label, m in manifests.items() if label != store.get("active_manifest")]
    return {
        "state": str(store.get("validation_state", "")),
        "failure_codes": sorted(set(failures))[:MAX_LIST],
        "claim_generator": str(active.get("claim_generator") or info[0].get("name", ""))[:200],
        "signer": str(signature.get("issuer") or signature.get("common_name") or "")[:200],
        "signing_time": str(signature.get("time") or ""),
        "actions": _actions(active),
        "ingredient_actions": [a for m in others for a in _actions(m)][:MAX_LIST],
        "ingredients": [
            {"title": str(i.get("title", ""))[:200], "relationship": str(i.get("relationship", ""))}
            for i in (active.get("ingredients") or [])[:MAX_LIST]
        ],
    }


def describe_store(store: dict[str, Any]) -> Evidence:
    """The SDK's manifest store JSON → one ``c2pa`` entry (see the module docstring's table)."""
    data = _summary(store)
    signal, strength, words = _classify(data)
    by = f"signed by {data['signer'] or 'an unnamed signer'}"
    tool = f" with {data['claim_generator']}" if data["claim_generator"] else ""
    detail = f"Content Credentials ({data['state'] or 'unknown state'}), {by}{tool}: {words}"
    return Evidence("c2pa", signal, strength, detail, data)


def _classify(data: dict[str, Any]) -> tuple[Signal, Strength, str]:
    state, codes = data["state"], data["failure_codes"]
    if state == "Invalid":
        content = [c for c in codes if not c.startswith(CREDENTIAL_CODES)]
        if content:
            return "tampered", "strong", f"changed after signing ({', '.join(content)})"
        return (
            "tampered",
            "moderate",
            f"the signing certificate failed ({', '.join(codes) or 'no code given'})",
        )
    everything = data["actions"] + data["ingredient_actions"]
    types = [a["digital_source_type"] for a in everything if "digital_source_type" in a]
    ai = [t for t in types if SOURCE_TYPES.get(t) == "ai"]
    if ai:
        return "ai", "conclusive", f"declares {ai[0]} ({SOURCE_TYPE_WORDS.get(ai[0], ai[0])})"
    agents = [a["software_agent"] for a in everything if KNOWN_GENERATORS.search(a["software_agent"])]
    if agents:
        return "ai", "strong", f"an action by the generator {agents[0]}"
    own = [a["digital_source_type"] for a in data["actions"] if "digital_source_type" in a]
    if any(SOURCE_TYPES.get(t) == "real" for t in own):
        if state == "Trusted":
            return "real", "conclusive", "a capture, signed by a trusted signer"
        return "real", "moderate", "declares a capture, but the signer is not on the trust list"
    if any(a["action"] not in ("c2pa.created", "c2pa.opened") for a in data["actions"]):
        return "edited", "weak", "edited (" + ", ".join(sorted({a["action"] for a in data["actions"]})) + ")"
    return "none", "weak", "no digital source type declared"
