"""Rollout benchmark: what shadow scoring costs the champion's latency, on a real ``deeptrust serve``.

    .venv/bin/python benchmarks/rollout.py --model photos-1.0 --challenger photos-1.0 --rate 50 \
        --seconds 30 --rounds 3 --json benchmarks/results/rollout-shadow.json

One server, driven open loop at ``--rate`` with 512×512 JPEG uploads from sd-vs-photos (as
benchmarks/serve.py). Rounds alternate "champion alone" and "challenger in shadow at share 1.0" (every
answered request handed to the shadow lane), in ABBA order so that the VM's drift over the run hits
both alike (``--rounds`` even); the
latencies of each phase are pooled and the p95s compared. From ``/metrics`` it reads, per shadow phase,
how many images the lane scored and skipped (CPU budget, full queue, lane down), and the CPU time of the
server process and of its shadow lane process; drift
monitoring and evidence are off in both phases (``--env DEEPTRUST_EVIDENCE=true`` turns it on). Target:
shadow p95 ≤ 1.10 × the champion's alone. The load generator shares the cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import build_request, run_closed_loop, run_open_loop

from serve import DATASET, REPO, free_port, load_jpegs, multipart, start_server


def scrape(url: str) -> dict[str, float]:
    """Sums of the samples the benchmark reads, by name (labels summed over)."""
    wanted = {"deeptrust_rollout_compared_total", "deeptrust_shadow_skipped_total",
              "deeptrust_process_cpu_seconds_total", "process_cpu_seconds_total"}  # fmt: skip
    out: dict[str, float] = dict.fromkeys(wanted, 0.0)
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=10).text):
        for s in family.samples:
            if s.name in wanted:
                out[s.name] += s.value
            if s.name == "deeptrust_shadow_skipped_total":  # and by reason
                key = f"skipped_{s.labels['reason']}"
                out[key] = out.get(key, 0.0) + s.value
    return out


def cpu_seconds(pid: int) -> float:
    """CPU seconds of one process (utime + stime); the shadow lane's process is counted apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a child that ended between the listing and the read
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the server's child processes (its shadow lane, started and ended with a rollout)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return sum(cpu_seconds(int(child)) for child in children)


def machine_seconds() -> dict[str, float]:
    """CPU seconds the whole machine spent busy (all cores) and lost to steal (the hypervisor running other
    guests), from /proc/stat: what tells a slow phase caused here from one caused outside."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy": (user + nice + system + irq + softirq) / tick, "steal": steal / tick}


def summary(latencies: list[float]) -> dict[str, float]:
    lat = np.asarray(latencies) * 1e3
    return {f"p{q}_ms": float(np.percentile(lat, q)) for q in (50, 95, 99)} | {"n": len(lat)}


def run_phase(url: str, port: int, pid: int, requests: list[bytes], args, k: int, phase: str) -> tuple:
    """One phase at the open-loop rate: (its row, the load generator's result)."""
    if phase == "shadow":
        body = {"model": args.challenger, "mode": "shadow", "share": 1.0}
        httpx.post(url + "/v1/rollout", json=body, timeout=120).raise_for_status()
    # The lane's process lives from the start to the abort: read before and after the phase, while it runs.
    before, cpu0, lane0 = scrape(url), cpu_seconds(pid), children_cpu_seconds(pid)
    box0, own0 = machine_seconds(), time.process_time()
    res = asyncio.run(run_open_loop("127.0.0.1", port, requests, rate=args.rate, seconds=args.seconds))
    time.sleep(0.5)  # the lane finishes what it holds
    after, cpu1, lane1 = scrape(url), cpu_seconds(pid), children_cpu_seconds(pid)
    box1, own1 = machine_seconds(), time.process_time()
    if phase == "shadow":
        httpx.post(url + "/v1/rollout/abort", timeout=60).raise_for_status()
    row = {"round": k, "phase": phase, **res.summary(), "server_cpu_cores": (cpu1 - cpu0) / res.seconds}
    row["lane_cpu_cores"] = (lane1 - lane0) / res.seconds  # the shadow lane's process (0 alone)
    row["steal_cores"] = (box1["steal"] - box0["steal"]) / res.seconds
    # Busy CPU of everything else on the machine: not the server, its lane nor this load generator.
    ours = (cpu1 - cpu0) + (lane1 - lane0) + (own1 - own0)
    row["other_cpu_cores"] = max(0.0, (box1["busy"] - box0["busy"] - ours) / res.seconds)
    for name in ("deeptrust_rollout_compared_total", "deeptrust_shadow_skipped_total"):
        row[name] = after[name] - before[name]
    for name in sorted(k for k in after if k.startswith("skipped_")):
        row[name] = after[name] - before.get(name, 0.0)
    print(
        f"round {k} {phase:6s}: p50 {row['p50_ms']:.1f} p95 {row['p95_ms']:.1f} p99 {row['p99_ms']:.1f} ms, "
        f"{row['achieved_rps']:.1f} RPS, errors {row['errors']}, server CPU {row['server_cpu_cores']:.2f} "
        f"+ lane {row['lane_cpu_cores']:.2f} cores (other {row['other_cpu_cores']:.2f}, steal "
        f"{row['steal_cores']:.2f}), shadow scored "
        f"{row['deeptrust_rollout_compared_total']:.0f}, skipped {row['deeptrust_shadow_skipped_total']:.0f} "
        f"{ {k[8:]: round(v) for k, v in row.items() if k.startswith('skipped_') and v} }",
        flush=True,
    )
    return row, res


def report(args, env: dict, load: tuple, phases: dict, rounds: list[dict]) -> dict:
    alone, shadow = summary(phases["alone"]["latencies"]), summary(phases["shadow"]["latencies"])
    ratio = shadow["p95_ms"] / alone["p95_ms"]
    # Each round's shadow phase against its own alone phase (ABBA: neighbours in time): the spread says how
    # much of the pooled ratio one disturbed phase carries.
    by_round = [
        next(r["p95_ms"] for r in rounds if r["round"] == k and r["phase"] == "shadow")
        / next(r["p95_ms"] for r in rounds if r["round"] == k and r["phase"] == "alone")
        for k in sorted({r["round"] for r in rounds})
    ]
    scored = sum(r["deeptrust_rollout_compared_total"] for r in rounds if r["phase"] == "shadow")
    skipped = sum(r["deeptrust_shadow_skipped_total"] for r in rounds if r["phase"] == "shadow")
    for name, s in (("champion alone", alone), ("with shadow   ", shadow)):
        print(
            f"{name}: p50 {s['p50_ms']:.1f} p95 {s['p95_ms']:.1f} p99 {s['p99_ms']:.1f} ms ({s['n']} answers)"
        )
    coverage = scored / shadow["n"]  # share 1.0: every answer of the shadow phases was sampled
    cpu = {
        phase: {
            key: [min(vals), max(vals)]
            for key in ("server_cpu_cores", "lane_cpu_cores")
            if (vals := [r[key] for r in rounds if r["phase"] == phase])
        }
        for phase in ("alone", "shadow")
    }
    print(
        f"p95 ratio {ratio:.3f} (target <= 1.10: {'met' if ratio <= 1.10 else 'missed'}); shadow scored "
        f"{scored:.0f} of {scored + skipped:.0f} sampled ({skipped:.0f} skipped), {coverage:.1%} of the "
        f"{shadow['n']} answers; CPU (cores, min-max per phase) {cpu}; load average at start "
        f"{load[0]:.2f}, at end {os.getloadavg()[0]:.2f}; p95 ratio per round "
        f"{[round(x, 2) for x in by_round]}, median {np.median(by_round):.3f}"
    )
    return {
        "model": args.model,
        "challenger": args.challenger,
        "rate": args.rate,
        "seconds_per_phase": args.seconds,
        "cpus": os.cpu_count(),
        "server_env": env,
        "load_average_start": load,
        "load_average_end": os.getloadavg(),
        "alone": alone | {"errors": phases["alone"]["errors"]},
        "shadow": shadow
        | {"errors": phases["shadow"]["errors"], "scored": scored, "skipped": skipped, "coverage": coverage},
        "cpu_cores": cpu,
        "p95_ratio": ratio,
        "p95_ratio_by_round": by_round,
        "p95_ratio_median_of_rounds": float(np.median(by_round)),
        "rounds": rounds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="photos-1.0", help="the champion")
    ap.add_argument("--challenger", default="photos-1.0")
    ap.add_argument("--data", type=Path, default=DATASET)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=30.0, help="per phase")
    ap.add_argument("--rounds", type=int, default=4, help="alone/shadow pairs (ABBA: use an even number)")
    ap.add_argument("--env", action="append", default=[], help="server setting, e.g. DEEPTRUST_X=1")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    images = load_jpegs(args.data, args.images)
    port, home = free_port(), REPO / ".deeptrust" / "bench-rollout"
    home.mkdir(parents=True, exist_ok=True)
    # The rollout's own cost: drift monitoring and evidence (PDQ, watermark: 13-26 ms per image) are off
    # in both phases unless --env turns them on.
    env = {"DEEPTRUST_LOCAL_ADMIN": "true", "DEEPTRUST_DRIFT_ENABLED": "false", "DEEPTRUST_EVIDENCE": "false"}
    env |= dict(kv.split("=", 1) for kv in args.env)
    proc = start_server(args.model, port, home, home / "server.log", env)
    url = f"http://127.0.0.1:{port}"
    requests = [build_request("127.0.0.1", port, "/v1/predict", *multipart(b)) for b in images]
    phases: dict[str, dict] = {p: {"latencies": [], "errors": 0} for p in ("alone", "shadow")}
    rounds, load = [], os.getloadavg()
    try:
        asyncio.run(run_closed_loop("127.0.0.1", port, requests, concurrency=4, seconds=3))  # warm-up
        for k in range(args.rounds):
            # ABBA: alone, shadow, shadow, alone, ... so that a load that rises (or falls) steadily over
            # the run weighs on both phases alike.
            for phase in ("alone", "shadow") if k % 2 == 0 else ("shadow", "alone"):
                row, res = run_phase(url, port, proc.pid, requests, args, k, phase)
                rounds.append(row)
                phases[phase]["latencies"] += res.latencies
                phases[phase]["errors"] += res.errors
    finally:
        proc.terminate()
        proc.wait(60)
    result = report(args, env, load, phases, rounds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
