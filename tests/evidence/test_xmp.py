"""IPTC / XMP: the digital source type in every format, the IPTC reference image, and hostile XML."""

from __future__ import annotations

import pytest

from deeptrust.evidence.collect import collect
from deeptrust.evidence.xmp import MAX_DEPTH, MAX_ELEMENTS, SOURCE_TYPES, parse_packet
from deeptrust.settings import Settings
from tests.evidence._builders import IPTC_REFERENCE, picture, source_type_xmp, with_xmp, xmp_packet

SETTINGS = Settings()


def iptc(data: bytes):
    return [e for e in collect(data, settings=SETTINGS) if e.kind == "iptc"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize(
    ("name", "signal", "strength"),
    [
        ("trainedAlgorithmicMedia", "ai", "strong"),
        ("compositeWithTrainedAlgorithmicMedia", "ai", "strong"),
        ("digitalCapture", "real", "weak"),  # anyone can write it: reported, never decisive
        ("humanEdits", "edited", "weak"),
    ],
)
def test_digital_source_type_in_every_format(fmt, name, signal, strength):
    [entry] = iptc(with_xmp(fmt, source_type_xmp(name)))
    assert (entry.signal, entry.strength, entry.data["digital_source_type"]) == (signal, strength, name)


def test_attribute_form_and_ai_fields():
    packet = xmp_packet(
        '<rdf:Description Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
        'trainedAlgorithmicMedia" photoshop:Credit="Made with Google AI"/>'
        "<Iptc4xmpExt:AISystemUsed>Imagen 3</Iptc4xmpExt:AISystemUsed>"
        "<Iptc4xmpExt:AIPromptInformation>a lighthouse at dusk</Iptc4xmpExt:AIPromptInformation>"
    )
    [entry] = iptc(with_xmp("JPEG", packet))
    assert entry.signal == "ai" and entry.data["ai_system"] == "Imagen 3"
    assert entry.data["ai_prompt"] == "a lighthouse at dusk" and entry.data["credit"] == "Made with Google AI"
    [system_only] = iptc(
        with_xmp("PNG", xmp_packet("<Iptc4xmpExt:AISystemUsed>X</Iptc4xmpExt:AISystemUsed>"))
    )
    assert (system_only.signal, system_only.strength) == ("ai", "strong")


@pytest.mark.skipif(not IPTC_REFERENCE.exists(), reason="../shared/fixtures/provenance is missing")
def test_the_iptc_reference_image():
    [entry] = iptc(IPTC_REFERENCE.read_bytes())  # every field filled; its source type is not an AI one
    assert entry.signal == "none" and entry.data["digital_source_type"] not in SOURCE_TYPES


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol3;</x:xmpmeta>'
)
EXTERNAL = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'


@pytest.mark.parametrize(
    ("packet", "words"),
    [
        (BILLION_LAUGHS, "DTDs and entities are not allowed"),
        (EXTERNAL, "DTDs and entities are not allowed"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>", "not well-formed"),
        (b"<a>" * 30_000 + b"</a>" * 30_000, f"nests over {MAX_DEPTH} elements deep"),
        (b"<a>" + b"<b/>" * (MAX_ELEMENTS + 1) + b"</a>", f"over {MAX_ELEMENTS:,} elements"),
    ],
)
def test_hostile_xmp_becomes_an_entry(packet, words):
    [entry] = iptc(with_xmp("JPEG" if len(packet) < 60_000 else "WEBP", packet))
    assert entry.signal == "none" and words in entry.detail


def test_huge_xmp_is_not_parsed():
    huge = xmp_packet("<Iptc4xmpExt:AISystemUsed>" + "x" * (2 << 20) + "</Iptc4xmpExt:AISystemUsed>")
    [entry] = iptc(with_xmp("WEBP", huge, picture(16, 16)))
    assert "over the cap" in entry.detail


def test_a_packet_reads_only_the_fields_we_know():
    found = parse_packet(xmp_packet("<xmp:CreatorTool>GIMP 2.10</xmp:CreatorTool><xmp:Rating>5</xmp:Rating>"))
    assert found == {"creator_tool": ["GIMP 2.10"]}
