"""``--report OUT.html``: one self-contained page about a scan — counts, a p_ai histogram, and the
images the model is most sure are AI-generated, as inline base64 PNGs (no external assets).

Drawn with Pillow alone, so the report needs nothing beyond the inference dependencies.
Thumbnails are read again from their sources at the end; an input that can no longer be read is
listed without one.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from deeptrust.detector import Detector
from deeptrust.scan.sources import read_keys
from deeptrust.scan.summary import HISTOGRAM_BINS, Summary

THUMB_PX = 160
PLOT_W, PLOT_H, MARGIN = 560, 260, 40
CSS = """
body{font:14px system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#111}
table{border-collapse:collapse}td,th{padding:.2rem .8rem;text-align:right;border-bottom:1px solid #ddd}
td:first-child,th:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:.8rem}
figure{margin:0;width:10.5rem}figcaption{font-size:11px;word-break:break-all;color:#444}
"""


def write_report(summary: Summary, out: Path, *, detector: Detector, max_bytes: int) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_report(summary, detector=detector, max_bytes=max_bytes), encoding="utf-8")
    os.replace(tmp, out)
    return out


def render_report(summary: Summary, *, detector: Detector, max_bytes: int) -> str:
    counts = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{n:,}</td></tr>"
        for name, n in [
            *((f"label {k}", v) for k, v in sorted(summary.labels.items())),
            *((f"error {k}", v) for k, v in sorted(summary.errors.items())),
            ("duplicates (scored once)", summary.duplicates),
            ("all rows", summary.rows),
        ]
    )
    histogram = histogram_png(summary.histogram, threshold=summary.threshold)
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>deeptrust scan · {html.escape(summary.model)}</title><style>{CSS}</style></head><body>
<h1>deeptrust scan</h1>
<p>Model <b>{html.escape(summary.model)}</b>, threshold {summary.threshold:.3f} on p_ai ·
{summary.rows:,} rows · this run {summary.scanned:,} images in {summary.seconds:.1f} s
({summary.images_per_s:,.1f} images/s)</p>
<table><tr><th></th><th>images</th></tr>{counts}</table>
<h2>p_ai of the scored images</h2>
<img alt="histogram of p_ai" src="data:image/png;base64,{histogram}">
<h2>Most confident AI-generated</h2>
<div class="grid">{_thumbnails(summary, detector=detector, max_bytes=max_bytes)}</div>
</body></html>
"""


def histogram_png(counts: list[int], *, threshold: float) -> str:
    """Bars of the p_ai histogram (red at or above the threshold), a dashed threshold line, axes."""
    img = Image.new("RGB", (PLOT_W + 2 * MARGIN, PLOT_H + 2 * MARGIN), "white")
    draw = ImageDraw.Draw(img)
    draw.font = ImageFont.load_default(size=13)
    top = max(max(counts, default=0), 1)
    width = PLOT_W / HISTOGRAM_BINS
    for i, n in enumerate(counts):
        x0 = MARGIN + i * width
        height = PLOT_H * n / top
        colour = "#dc2626" if (i + 1) / HISTOGRAM_BINS > threshold else "#2563eb"
        draw.rectangle([x0 + 1, MARGIN + PLOT_H - height, x0 + width - 1, MARGIN + PLOT_H], fill=colour)
    tx = MARGIN + PLOT_W * threshold
    for y in range(MARGIN, MARGIN + PLOT_H, 8):
        draw.line([tx, y, tx, y + 4], fill="#111", width=1)
    draw.line([MARGIN, MARGIN + PLOT_H, MARGIN + PLOT_W, MARGIN + PLOT_H], fill="#111")
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = MARGIN + PLOT_W * tick
        draw.text((x - 10, MARGIN + PLOT_H + 6), f"{tick:g}", fill="#111")
    draw.text((MARGIN, 10), f"images per bin (max {top:,}); dashed: threshold {threshold:.3f}", fill="#111")
    draw.text((MARGIN + PLOT_W - 30, MARGIN + PLOT_H + 22), "p_ai", fill="#111")
    return _png_base64(img)


def _thumbnails(summary: Summary, *, detector: Detector, max_bytes: int) -> str:
    top = summary.most_confident_ai()
    if not top:
        return "<p>No image was labelled AI-generated.</p>"
    data = read_keys([path for _, path in top], max_bytes=max_bytes)
    figures = []
    for p_ai, path in top:
        picture = _thumbnail(data.get(path), detector)
        img = (
            f'<img alt="" src="data:image/png;base64,{picture}">'
            if picture
            else "<p>(no longer readable)</p>"
        )
        figures.append(
            f"<figure>{img}<figcaption>p_ai {p_ai:.4f}<br>{html.escape(path)}</figcaption></figure>"
        )
    return "".join(figures)


def _thumbnail(data: bytes | None, detector: Detector) -> str:
    if data is None:
        return ""
    try:
        img = detector.decode(data)
    except ValueError:  # ImageError: changed since it was scored
        return ""
    img.thumbnail((THUMB_PX, THUMB_PX))
    return _png_base64(img)


def _png_base64(img: Image.Image) -> str:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
