"""IPTC / XMP: the digital source type and related fields, read safely from JPEG, PNG, WebP and TIFF.

Midjourney, Meta, Google and Adobe write ``Iptc4xmpExt:DigitalSourceType = trainedAlgorithmicMedia`` into
XMP; the IPTC's 2025 fields name the AI system and prompt. XMP is untrusted XML, so it is parsed by
defusedxml with DTDs, entities and external references forbidden (no billion laughs, no XXE), each packet
capped at ``MAX_XMP_BYTES`` and streamed, so that ``MAX_DEPTH`` and ``MAX_ELEMENTS`` stop the parser; a
packet that breaks a rule is an evidence entry saying so, never an exception. XMP is unsigned and easily
stripped or added, so its AI declarations are ``strong`` (rarely forged; they override the pixels) and
its capture declarations ``weak`` (anyone can write ``digitalCapture``; reported only). Non-goal:
IPTC-IIM (APP13), which has no digital source type.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element, ParseError

from deeptrust.evidence._containers import MAX_XMP_BYTES
from deeptrust.evidence.types import Evidence, Signal, Strength

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings

MAX_ELEMENTS = 100_000  # XML elements per packet (Photoshop's DocumentAncestors lists run to thousands)
MAX_DEPTH = 64  # real XMP nests about 10 deep; deeper is an attack on the parser
MAX_PACKETS = 4
MAX_VALUE_CHARS = 2000  # a prompt longer than this is cut in the evidence's data

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
IPTC_EXT = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}"
# XMP property (Clark notation) → the name readers and the wire use.
FIELDS = {
    IPTC_EXT + "DigitalSourceType": "digital_source_type",
    IPTC_EXT + "AISystemUsed": "ai_system",
    IPTC_EXT + "AISystemVersionUsed": "ai_system_version",
    IPTC_EXT + "AIPromptInformation": "ai_prompt",
    IPTC_EXT + "AIPromptWriterName": "ai_prompt_writer",
    "{http://ns.adobe.com/xap/1.0/}CreatorTool": "creator_tool",
    "{http://ns.adobe.com/tiff/1.0/}Software": "software",
    "{http://ns.adobe.com/photoshop/1.0/}Credit": "credit",
    "{http://purl.org/dc/elements/1.1/}creator": "creator",
    "{http://ns.adobe.com/xap/1.0/sType/ResourceEvent#}softwareAgent": "history_software",
    "{http://purl.org/dc/terms/}provenance": "provenance",  # a C2PA manifest stored elsewhere
}

# IPTC NewsCodes "digitalsourcetype" (https://cv.iptc.org/newscodes/digitalsourcetype/) → signal.
SOURCE_TYPES: dict[str, Signal] = {
    "trainedAlgorithmicMedia": "ai",
    "compositeWithTrainedAlgorithmicMedia": "ai",
    "algorithmicMedia": "ai",
    "digitalCapture": "real",
    "negativeFilm": "real",
    "positiveFilm": "real",
    "print": "real",
    "minorHumanEdits": "real",
    "computationalCapture": "real",
    "humanEdits": "edited",
    "compositeCapture": "edited",
    "compositeSynthetic": "edited",
    "algorithmicallyEnhanced": "edited",
    "digitalArt": "none",
    "virtualRecording": "none",
    "screenCapture": "none",
    "dataDrivenMedia": "none",
}
SOURCE_TYPE_WORDS = {
    "trainedAlgorithmicMedia": "created by a generative AI model",
    "compositeWithTrainedAlgorithmicMedia": "edited or composited with generative AI",
    "algorithmicMedia": "created by an algorithm (not a camera)",
    "digitalCapture": "a digital camera capture",
}


class XmpError(ValueError):
    """A packet we refuse to read (too big, DTD/entities, malformed)."""


def source_type_name(value: str) -> str:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture`` → ``digitalCapture``."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1]


def parse_packet(packet: bytes) -> dict[str, list[str]]:
    """The FIELDS found in one XMP packet, each with every value it has (attribute, text or rdf:li)."""
    if len(packet) > MAX_XMP_BYTES:
        raise XmpError(f"XMP packet of {len(packet):,} bytes is over the cap of {MAX_XMP_BYTES:,}; not read")
    # imported on first XMP only: most uploads carry none
    import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
    from defusedxml import DefusedXmlException  # type: ignore[import-untyped]

    start = packet.find(b"<")
    text = io.BytesIO(packet[max(start, 0) :].rstrip(b"\x00 \t\r\n"))
    found: dict[str, list[str]] = {}
    depth = count = 0
    try:  # streamed, so that the depth and element caps stop the parser itself, early
        for event, element in SafeET.iterparse(text, events=("start", "end"), forbid_dtd=True):
            if event == "end":
                _take(element, found)
                depth -= 1
                continue
            depth, count = depth + 1, count + 1
            if depth > MAX_DEPTH:
                raise XmpError(f"XMP nests over {MAX_DEPTH} elements deep; not read")
            if count > MAX_ELEMENTS:
                raise XmpError(f"XMP has over {MAX_ELEMENTS:,} elements; read no further")
    except DefusedXmlException as exc:
        raise XmpError(f"XMP refused: {type(exc).__name__} (DTDs and entities are not allowed)") from exc
    except (ParseError, ValueError) as exc:
        raise XmpError(f"XMP is not well-formed XML: {exc}") from exc
    return found


def _take(element: Element, found: dict[str, list[str]]) -> None:
    for key, value in element.attrib.items():
        if key in FIELDS:
            _add(found, FIELDS[key], value)
    name = FIELDS.get(element.tag) if isinstance(element.tag, str) else None
    if name is None:
        return
    resource = element.get(RDF + "resource")
    if resource:
        _add(found, name, resource)
    if element.text and element.text.strip():
        _add(found, name, element.text)
    for item in element.iter(RDF + "li"):
        if item.text and item.text.strip():
            _add(found, name, item.text)


def _add(found: dict[str, list[str]], name: str, value: str) -> None:
    values = found.setdefault(name, [])
    value = value.strip()[:MAX_VALUE_CHARS]
    if value and value not in values and len(values) < 16:
        values.append(value)


def xmp_fields(source: Source) -> tuple[dict[str, list[str]], list[str]]:
    """Every packet's fields merged, and the problems met (cached on the source: two readers use it)."""
    cached = source.cache.get("xmp")
    if cached is None:
        fields: dict[str, list[str]] = {}
        problems: list[str] = []
        packets = source.metadata.xmp
        if len(packets) > MAX_PACKETS:
            problems.append(f"{len(packets)} XMP packets: only the first {MAX_PACKETS} read")
        for packet in packets[:MAX_PACKETS]:
            try:
                for name, values in parse_packet(packet).items():
                    for value in values:
                        _add(fields, name, value)
            except XmpError as exc:
                problems.append(str(exc))
        cached = source.cache["xmp"] = (fields, problems)
    return cached


def read_iptc(source: Source, settings: Settings) -> list[Evidence]:
    """DigitalSourceType and the IPTC AI fields; an entry for XMP that could not be read safely."""
    if not source.metadata.xmp:
        return []
    fields, problems = xmp_fields(source)
    out = [Evidence("iptc", "none", "weak", f"XMP metadata not read: {p}", {"problem": p}) for p in problems]
    data = {k: v for k, v in fields.items() if k in ("ai_system", "ai_system_version", "ai_prompt", "credit")}
    for value in fields.get("digital_source_type", []):
        name = source_type_name(value)
        signal = SOURCE_TYPES.get(name, "none")
        strength: Strength = "strong" if signal == "ai" else "weak"
        words = SOURCE_TYPE_WORDS.get(name, name)
        detail = f"IPTC digital source type {name} ({words}), declared in unsigned XMP"
        out.append(Evidence("iptc", signal, strength, detail, {"digital_source_type": name, **_plain(data)}))
    if "ai_system" in fields and not fields.get("digital_source_type"):
        system = fields["ai_system"][0]
        out.append(Evidence("iptc", "ai", "strong", f"IPTC AI system used: {system}", _plain(data)))
    return out


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in data.items()}
