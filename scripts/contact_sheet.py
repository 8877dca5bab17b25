"""A contact sheet of an evaluation's most confident errors, as one JPEG.

    .venv/bin/python scripts/contact_sheet.py models/photos/evaluation.json models/photos/worst-errors.jpg

Reads ``worst_errors`` of a ``deeptrust evaluate --json`` output (path, label, p_ai, source) and draws
each image as a thumbnail captioned with its true label, p_ai and source; images that no longer exist at
their path are drawn as a grey tile saying so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

TILE, CAPTION, COLUMNS = 192, 30, 4


def tile(error: dict) -> Image.Image:
    out = Image.new("RGB", (TILE, TILE + CAPTION), "white")
    try:
        with Image.open(error["path"]) as im:
            thumb = ImageOps.contain(im.convert("RGB"), (TILE, TILE))
        out.paste(thumb, ((TILE - thumb.width) // 2, (TILE - thumb.height) // 2))
    except OSError:
        ImageDraw.Draw(out).rectangle((0, 0, TILE, TILE), fill="grey")
        ImageDraw.Draw(out).text((8, TILE // 2), "not found", fill="white")
    draw = ImageDraw.Draw(out)
    draw.text((4, TILE + 2), f"{error['label']}  p_ai {error['p_ai']:.2f}", fill="black")
    draw.text((4, TILE + 15), str(error.get("source", ""))[:30], fill="dimgray")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("evaluation", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    errors = json.loads(args.evaluation.read_text()).get("worst_errors") or []
    if not errors:
        raise SystemExit(f"{args.evaluation} lists no worst_errors")
    rows = -(-len(errors) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * TILE, rows * (TILE + CAPTION)), "white")
    for i, error in enumerate(errors):
        sheet.paste(tile(error), ((i % COLUMNS) * TILE, (i // COLUMNS) * (TILE + CAPTION)))
    sheet.save(args.out, quality=85)
    print(f"wrote {args.out}: {len(errors)} images")


if __name__ == "__main__":
    main()
