"""Generator metadata: what Stable Diffusion front ends and AI services write into the files they make.

* AUTOMATIC1111 (and Forge, SD.Next, Fooocus in its A1111 mode): a PNG ``parameters`` text chunk, or EXIF
  UserComment in UTF-16 for JPEG and WebP, ``prompt\\nNegative prompt: …\\nSteps: 20, Sampler: …, Seed: …``.
* ComfyUI: PNG ``prompt`` (the API graph) and ``workflow`` (the editor graph), both JSON.
* InvokeAI: ``invokeai_metadata`` / ``invokeai_graph`` (JSON), older ``sd-metadata`` and ``Dream``.
* NovelAI: ``Software: NovelAI``, ``Source`` naming its model and ``Comment`` with the generation JSON.
* Known generator names in EXIF Software, XMP CreatorTool / history, PNG Software / Source.

Structured generation parameters are ``strong`` evidence of AI (nothing else writes a sampler, seed and
step count into a photo); a generator's name alone is ``moderate`` (it decides only when the pixels are
unsure). The figures behind these choices are in the README's "Evidence" section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deeptrust.evidence.exif import exif_fields
from deeptrust.evidence.types import Evidence, Strength
from deeptrust.evidence.xmp import xmp_fields

if TYPE_CHECKING:
    from deeptrust.evidence.collect import Source
    from deeptrust.settings import Settings

MAX_JSON_CHARS = 1 << 20  # a ComfyUI workflow can be large; beyond 1 MiB it is not parsed
MAX_PROMPT_CHARS = 500

# Names of AI image generators as they appear in Software / CreatorTool / softwareAgent fields. Whole
# words, and none that an editor also uses ("Affinity Designer", "Aurora HDR", "imagen" in Spanish).
KNOWN_GENERATORS = re.compile(
    r"\b(stable[ -]?diffusion|sdxl|novelai|midjourney|dall[-· ]?e|openai|chatgpt|adobe firefly|"
    r"google ai|gemini|bing image creator|comfyui|invokeai|automatic1111|fooocus|draw things|diffusionbee|"
    r"leonardo\.?ai|nightcafe|craiyon|ideogram|flux\.1|black forest labs|dreamstudio|playground ?ai|"
    r"meta ai|imagine with meta)\b",
    re.IGNORECASE,
)
A1111_KEYS = re.compile(r"(?:^|\n|, )(Steps|Sampler|CFG scale|Seed|Model hash|Model|Size|Version): ([^,\n]*)")
TEXT_NAME_FIELDS = ("Software", "Source", "Title", "Author", "Description", "Comment", "comment")


def parse_a1111(text: str) -> dict[str, Any] | None:
    """AUTOMATIC1111's parameter block → its fields, or None when ``text`` is not one."""
    keys = dict(A1111_KEYS.findall(text))
    if "Steps" not in keys or not ({"Sampler", "CFG scale", "Seed"} & keys.keys()):
        return None
    prompt = text.split("\nNegative prompt:", 1)[0].split("\nSteps:", 1)[0]
    wanted = ("Steps", "Sampler", "CFG scale", "Seed", "Size", "Model", "Model hash", "Version")
    out: dict[str, Any] = {k.lower().replace(" ", "_"): keys[k].strip()[:200] for k in wanted if k in keys}
    return {"prompt": prompt.strip()[:MAX_PROMPT_CHARS], **out}


def _json(text: str) -> Any:
    if len(text) > MAX_JSON_CHARS or not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_comfy(text: dict[str, str]) -> dict[str, Any] | None:
    """ComfyUI's graphs → the node types and checkpoint names, or None."""
    prompt, workflow = _json(text.get("prompt", "")), _json(text.get("workflow", ""))
    nodes: list[dict[str, Any]] = []
    if isinstance(prompt, dict):
        nodes = [n for n in prompt.values() if isinstance(n, dict) and "class_type" in n]
    if not nodes and not (isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list)):
        return None
    checkpoints = sorted(
        {
            str(v)[:200]
            for n in nodes
            for k, v in (n.get("inputs") or {}).items()
            if k in ("ckpt_name", "unet_name", "model_name") and isinstance(v, str)
        }
    )
    classes = sorted({str(n["class_type"])[:80] for n in nodes})[:40]
    return {"checkpoints": checkpoints, "node_types": classes, "has_workflow": workflow is not None}


def _entry(tool: str, strength: Strength, where: str, data: dict[str, Any]) -> Evidence:
    what = "generation parameters" if strength == "strong" else "its name"
    return Evidence("generator_metadata", "ai", strength, f"{tool} {what} in {where}", {"tool": tool, **data})


def _png_generators(text: dict[str, str]) -> list[Evidence]:
    out = []
    params = text.get("parameters", "")
    a1111 = parse_a1111(params) if params else None
    if a1111:
        out.append(
            _entry("AUTOMATIC1111 (Stable Diffusion web UI)", "strong", "PNG text 'parameters'", a1111)
        )
    elif isinstance(_json(params), dict) and "fooocus" in params[:4096].lower():
        out.append(_entry("Fooocus", "strong", "PNG text 'parameters'", {}))
    comfy = parse_comfy(text)
    if comfy:
        out.append(_entry("ComfyUI", "strong", "PNG text 'prompt'/'workflow'", comfy))
    invoke = [k for k in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream") if k in text]
    if invoke:
        out.append(_entry("InvokeAI", "strong", f"PNG text {invoke[0]!r}", {"keys": invoke}))
    novel = _json(text.get("Comment", ""))
    if text.get("Software", "").strip() == "NovelAI" or (isinstance(novel, dict) and "uc" in novel):
        data = {"source": text.get("Source", "")[:200]}
        if isinstance(novel, dict):
            data |= {k: str(novel[k])[:200] for k in ("steps", "sampler", "seed", "scale") if k in novel}
        strength: Strength = "strong" if isinstance(novel, dict) and "steps" in novel else "moderate"
        out.append(_entry("NovelAI", strength, "PNG text 'Software'/'Comment'", data))
    return out


def _named(fields: Mapping[str, list[str] | str], where: str) -> list[Evidence]:
    """A known generator's name in one of ``fields``: moderate evidence (names are easy to write)."""
    for key, values in fields.items():
        for value in [values] if isinstance(values, str) else values:
            match = KNOWN_GENERATORS.search(value[:4096])
            if match:
                data = {"field": key, "value": value[:200]}
                return [_entry(match.group(0), "moderate", f"{where} {key}", data)]
    return []


def read_generator(source: Source, settings: Settings) -> list[Evidence]:
    """Generator metadata from PNG text chunks, EXIF and XMP; the strongest few entries."""
    meta = source.metadata
    if meta.empty:
        return []
    out = _png_generators(meta.text) if meta.text else []
    exif, _ = exif_fields(source) if meta.exif else ({}, "")
    for name in ("user_comment", "description"):
        a1111 = parse_a1111(exif.get(name, ""))
        if a1111:
            out.append(_entry("AUTOMATIC1111 (Stable Diffusion web UI)", "strong", f"EXIF {name}", a1111))
            break
    if not out:
        text_names = {k: v for k, v in meta.text.items() if k in TEXT_NAME_FIELDS}
        xmp, _ = xmp_fields(source) if meta.xmp else ({}, [])
        xmp_names = {k: v for k, v in xmp.items() if k in ("creator_tool", "software", "history_software")}
        exif_names = {k: v for k, v in exif.items() if k in ("software", "artist")}
        out = _named(exif_names, "EXIF") or _named(xmp_names, "XMP") or _named(text_names, "PNG text")
    return out
