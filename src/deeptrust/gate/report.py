"""The gate's report: ``gate.json`` (everything) and ``gate.html`` (one self-contained page)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}td:first-child,th:first-child,"
    "td:nth-child(2){text-align:left}.fail{background:#fdd}.info{color:#777}h1 .pass{color:#070}"
    "h1 .fail{color:#b00;background:none}"
)


def write_reports(result: Any, out_dir: Path) -> dict[str, str]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = result.to_dict()
    json_path, html_path = out_dir / "gate.json", out_dir / "gate.html"
    paths = {"json": str(json_path.resolve()), "html": str(html_path.resolve())}
    body["report"] = paths
    json_path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    html_path.write_text(render_html(body))
    return paths


def _num(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def render_html(body: dict[str, Any]) -> str:
    cand, champ = body["candidate"], body["champion"]
    verdict = '<span class="pass">PASSED</span>' if body["passed"] else '<span class="fail">FAILED</span>'
    rows = []
    for c in body["checks"]:
        cls = "" if c["passed"] else ("fail" if c["gating"] else "info")
        rows.append(
            f'<tr class="{cls}"><td>{html.escape(c["kind"])}</td><td>{html.escape(c["slice"])}</td>'
            f"<td>{html.escape(c['metric'])}</td><td>{_num(c['value'])}</td><td>{_num(c['bound'])}</td>"
            f"<td>{_num(c['champion'])}</td><td>{'yes' if c['passed'] else 'no'}</td>"
            f"<td>{html.escape(c['note'])}</td></tr>"
        )
    against = (
        f"{html.escape(str(champ['reference']))} (version {champ['version']}, card {champ['card_version']})"
        if champ
        else "nothing (floors only)"
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in body["notes"])
    return (
        f"<!doctype html><meta charset=utf-8><title>gate: {html.escape(str(cand['reference']))}</title>"
        f"<style>{STYLE}</style><h1>{html.escape(str(cand['reference']))}: {verdict}</h1>"
        f"<p>candidate {html.escape(str(cand['name']))} version {cand['version']} (card "
        f"{html.escape(str(cand['card_version']))}), against {against}; suite "
        f"<code>{html.escape(body['suite'])}</code>; {html.escape(body['at'])}</p>"
        f"<ul>{notes}</ul><table><tr><th>rule</th><th>slice</th><th>metric</th><th>candidate</th>"
        f"<th>bound</th><th>champion</th><th>passed</th><th>note</th></tr>{''.join(rows)}</table>"
    )
