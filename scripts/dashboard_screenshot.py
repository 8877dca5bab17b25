"""The README's dashboard screenshots and simulator summary, from a real run on this machine.

Starts ``deeptrust serve`` (model photos: its card carries a reference profile) and Prometheus with the
repository's rules, replays multigen then sd-vs-photos through ``deeptrust simulate``, then draws the
service, model and drift dashboards from Prometheus (``deeptrust.monitor.render``) and photographs each page
in headless Chromium (Debian's chromium through Playwright)::

    PYTHONPATH=src .venv/bin/python scripts/dashboard_screenshot.py            # ~5 minutes
    # → docs/screenshots/dashboard-{service,model,drift}.png, simulate-summary.txt, alerts.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from deeptrust.monitor.boards import DASHBOARDS
from deeptrust.monitor.render import render_dashboard

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="photos")
    # photos 2.0's reference profile is its validation split (mostly multigen): multigen is "unchanged"
    # traffic for it, sd-vs-photos (512x512, JPEG q95, other content) the drift.
    ap.add_argument("--data", default=str(DATASETS / "multigen.tar.gz"))
    ap.add_argument("--drift-data", default=str(DATASETS / "sd-vs-photos.tar.gz"))
    ap.add_argument("--rate", default="3")
    ap.add_argument("--duration", default="240s")
    ap.add_argument("--drift-after", default="100s")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--boards", default="service,model,drift", help="rollout too while a challenger runs")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dashboard-"))
    port, prom_port = free_port(), free_port()
    env = os.environ | {
        "DEEPTRUST_HOME": str(work / "home"), "DEEPTRUST_MODEL": args.model, "DEEPTRUST_DRIFT_WINDOW": "200",
        "DEEPTRUST_DRIFT_MIN_WINDOW": "100", "DEEPTRUST_DRIFT_INTERVAL_S": "2",
    }  # fmt: skip
    config = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": [str(p) for p in sorted((REPO / "deploy/prometheus/rules").glob("*.rules.yml"))],
        "scrape_configs": [{"job_name": "deeptrust", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    serve = [sys.executable, "-m", "deeptrust.cli", "serve", "--port", str(port)]
    prom = ["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}"]  # fmt: skip
    procs = [
        subprocess.Popen(
            serve, cwd=REPO, env=env, stdout=(work / "serve.log").open("w"), stderr=subprocess.STDOUT
        ),
        subprocess.Popen(prom, stdout=(work / "prom.log").open("w"), stderr=subprocess.STDOUT),
    ]
    try:
        wait(f"http://127.0.0.1:{port}/readyz")
        wait(f"http://127.0.0.1:{prom_port}/-/ready")
        started = time.time()
        simulate = [sys.executable, "-m", "deeptrust.cli", "simulate", "--url", f"http://127.0.0.1:{port}",
                    "--data", args.data, "--drift-data", args.drift_data, "--rate", args.rate,
                    "--duration", args.duration, "--drift-after", args.drift_after, "--feedback-rate", "0.1",
                    "--limit", "300", "--json", str(work / "run.json"), "--no-progress"]  # fmt: skip
        done = subprocess.run(
            simulate, cwd=REPO, env=env | {"COLUMNS": "112"}, capture_output=True, text=True, check=True
        )
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "simulate-summary.txt").write_text(done.stdout)
        time.sleep(6)
        prometheus = f"http://127.0.0.1:{prom_port}"
        alerts = httpx.get(prometheus + "/api/v1/alerts").json()["data"]["alerts"]
        (args.out / "alerts.json").write_text(json.dumps(alerts, indent=2) + "\n")
        minutes = (time.time() - started) / 60 + 0.5
        _photograph(
            prometheus,
            args.out,
            work,
            minutes,
            boards=args.boards.split(","),
            note=f"deeptrust simulate --rate {args.rate} "
            f"--duration {args.duration} --drift-after {args.drift_after}: {Path(args.data).name}, "
            f"then {Path(args.drift_data).name}.",
        )
        print(done.stdout)
        print("firing:", sorted({a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}))
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


def _photograph(
    prometheus: str, out: Path, work: Path, minutes: float, *, note: str, boards: list[str]
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1480, "height": 900})
        for board in (b for b in DASHBOARDS if b.uid.removeprefix("deeptrust-") in boards):
            page_html, _ = render_dashboard(prometheus, board, minutes=minutes, note=note)
            path = work / f"{board.uid}.html"
            path.write_text(page_html)
            page.goto(path.as_uri())
            name = board.uid.replace("deeptrust-", "dashboard-")
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print("wrote", out / f"{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
