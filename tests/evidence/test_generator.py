"""Generator metadata, with files built the way each front end writes them."""

from __future__ import annotations

import json

import pytest

from deeptrust.evidence.collect import collect
from deeptrust.evidence.exif import decode_user_comment
from deeptrust.evidence.generator import parse_a1111
from deeptrust.settings import Settings
from tests.evidence._builders import encode, picture, png_with_text, with_exif, with_xmp, xmp_packet

A1111 = (
    "a watercolour fox in the snow\nNegative prompt: blurry\nSteps: 28, Sampler: DPM++ 2M Karras, "
    "CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    "Version: v1.6.0"
)
COMFY_PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20}},
}


def generator(data: bytes):
    return [e for e in collect(data, settings=Settings()) if e.kind == "generator_metadata"]


def test_automatic1111_parameters_in_png():
    [entry] = generator(png_with_text({"parameters": A1111}))
    assert (entry.signal, entry.strength) == ("ai", "strong") and "AUTOMATIC1111" in entry.detail
    assert entry.data["prompt"] == "a watercolour fox in the snow"
    assert entry.data["sampler"] == "DPM++ 2M Karras" and entry.data["seed"] == "1234"
    assert entry.data["model"] == "v1-5-pruned-emaonly"


def test_compressed_itxt_is_read_too():
    [entry] = generator(png_with_text({"parameters": A1111}, compressed=True))
    assert entry.data["steps"] == "28"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le"])
def test_automatic1111_user_comment_in_utf16(fmt, encoding):
    comment = b"UNICODE\x00" + A1111.encode(encoding)  # piexif (A1111) writes big-endian; others little
    assert decode_user_comment(comment) == A1111
    [entry] = generator(with_exif(fmt, user_comment=comment))
    assert entry.strength == "strong" and entry.data["prompt"] == "a watercolour fox in the snow"
    assert "EXIF user_comment" in entry.detail


def test_comfyui_prompt_and_workflow():
    chunks = {"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps({"nodes": [{"id": 4}], "links": []})}
    [entry] = generator(png_with_text(chunks))
    assert entry.data["tool"] == "ComfyUI" and entry.strength == "strong"
    assert entry.data["checkpoints"] == ["sd_xl_base_1.0.safetensors"] and entry.data["has_workflow"]
    assert "KSampler" in entry.data["node_types"]
    [workflow_only] = generator(png_with_text({"workflow": json.dumps({"nodes": []})}))
    assert workflow_only.data["tool"] == "ComfyUI"


def test_invokeai_and_novelai():
    [invoke] = generator(png_with_text({"invokeai_metadata": json.dumps({"positive_prompt": "x"})}))
    assert invoke.data["tool"] == "InvokeAI" and invoke.strength == "strong"
    comment = json.dumps({"prompt": "1girl", "steps": 28, "sampler": "k_euler", "seed": 9, "uc": "lowres"})
    novel = {"Software": "NovelAI", "Source": "NovelAI Diffusion V3 7BCCAA2C", "Comment": comment}
    [entry] = generator(png_with_text(novel))
    assert (
        entry.data["tool"] == "NovelAI" and entry.strength == "strong" and entry.data["sampler"] == "k_euler"
    )
    [name_only] = generator(png_with_text({"Software": "NovelAI"}))
    assert name_only.strength == "moderate"


@pytest.mark.parametrize(
    ("data", "tool"),
    [
        (lambda: with_exif("JPEG", software="Midjourney v6"), "Midjourney"),
        (lambda: with_exif("WEBP", software="Adobe Firefly"), "Adobe Firefly"),
        (lambda: with_xmp("PNG", xmp_packet("<xmp:CreatorTool>DALL-E 3</xmp:CreatorTool>")), "DALL-E"),
        (lambda: png_with_text({"Software": "ComfyUI"}), "ComfyUI"),
    ],
)
def test_known_generator_names_are_moderate(data, tool):
    [entry] = generator(data())
    assert (entry.signal, entry.strength, entry.data["tool"]) == ("ai", "moderate", tool)


@pytest.mark.parametrize(
    "data",
    [
        lambda: encode(picture(), "PNG"),
        lambda: with_exif("JPEG", software="Adobe Photoshop 25.0", make="Canon"),
        lambda: with_exif("JPEG", software="Imagenomic Portraiture 3"),  # not Google's Imagen
        lambda: with_exif("JPEG", software="Affinity Designer 2"),
        lambda: png_with_text(
            {"parameters": "Steps: to take", "Comment": "a holiday photo", "Software": "GIMP"}
        ),
    ],
)
def test_no_generator_where_there_is_none(data):
    assert generator(data()) == []


def test_a1111_parser_needs_its_own_shape():
    assert parse_a1111("Steps: 20") is None  # a step count alone is not A1111's block
    assert parse_a1111("cat\nSteps: 20, Seed: 3")["prompt"] == "cat"


def test_exif_camera_and_editor_are_weak():
    entries = collect(
        with_exif("JPEG", software="Adobe Lightroom Classic 13", make="NIKON"),
        settings=Settings(hash_lists=False),  # no pdq entry
    )
    assert {(e.kind, e.signal, e.strength) for e in entries} == {
        ("exif", "real", "weak"),
        ("exif", "edited", "weak"),
    }
