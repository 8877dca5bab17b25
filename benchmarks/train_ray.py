"""The Ray engine of ``deeptrust train`` against the local one: agreement and wall time.

    PYTHONPATH=$PWD/src:$PWD .venv/bin/python benchmarks/train_ray.py --out benchmarks/results/train_ray.json

Agreement: the tiny config of tests/train/test_engine_ray.py (cnn_small, 32 px, synthetic two-class
images, 3 epochs), trained by the local engine with seeds 0, 1 and 2 and by the Ray engine (2 workers)
with seed 0; the seed-to-seed spread of the local engine is what the test's tolerances are set from.
Wall time: the same config with ``--samples`` images per epoch, local vs Ray (2 workers × 1 CPU), each
timed from the call to its return (the Ray figure includes starting the trainer's processes, not the
Ray instance, timed apart). A 2-core machine has nothing to gain from two workers: this measures the
engine's overhead, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.conftest's synthetic images, tests.train.test_loop's config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_ray.json")
    parser.add_argument("--samples", type=int, default=1536, help="Images per epoch of the timed runs.")
    parser.add_argument(
        "--part",
        choices=("all", "agreement", "timing"),
        default="all",
        help="Rerun one part (kept in --out).",
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="deeptrust-train-ray-"))
    os.environ["DEEPTRUST_HOME"] = str(scratch / "home")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'home' / 'mlflow.db'}"

    import ray
    from benchmarks.train_step import cpu_name
    from tests.conftest import make_image_folder
    from tests.train.test_engine_ray import TINY
    from tests.train.test_loop import write_config

    from deeptrust.train.config import load_config
    from deeptrust.train.engine_ray import train_ray
    from deeptrust.train.loop import train

    folder = make_image_folder(scratch / "binary", per_class=24, size=32)
    config = load_config(write_config(scratch, folder, epochs=3), **TINY)

    def run(engine, cfg, name: str) -> dict:
        started = time.perf_counter()
        out = engine(cfg.model_copy(update={"out_dir": scratch / name}), show=False)
        summary = json.loads((out / "summary.json").read_text())
        return {
            "wall_s": round(time.perf_counter() - started, 2),
            "train_s": round(summary["history"][-1]["seconds"], 2),
            "train_loss": [round(h["train_loss"], 4) for h in summary["history"]],
            "val_loss": round(summary["validation"]["loss"], 4),
            "val_accuracy": summary["validation"]["accuracy"],
            "val_roc_auc": summary["validation"]["roc_auc"],
        }

    result = json.loads(args.out.read_text()) if args.out.exists() and args.part != "all" else {}
    result.pop("load_average_after", None)  # each part records its own
    result |= {
        "machine": f"{os.cpu_count()}-core {cpu_name()}",
        "command": f"PYTHONPATH=$PWD/src:$PWD .venv/bin/python benchmarks/train_ray.py --part {args.part}",
    }
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_init_s = round(time.perf_counter() - started, 2)
    if args.part in ("all", "agreement"):
        result["agreement"] = agreement(run, train, train_ray, config)
    if args.part in ("all", "timing"):
        timed = load_config(
            write_config(scratch, folder, name="timed", epochs=3),
            **TINY | {"optim.samples_per_epoch": args.samples},
        )
        result["timing"] = {
            "samples_per_epoch": args.samples,
            "epochs": 3,
            "ray_init_s": ray_init_s,
            # torch's default: one thread per core, as a plain `deeptrust train` runs
            "local": run(train, timed, "timed-local"),
            # one thread, as each Ray worker (--cpus-per-worker 1)
            "local_1_thread": run(
                train,
                timed.model_copy(update={"optim": timed.optim.model_copy(update={"threads": 1})}),
                "timed-local-1",
            ),
            "ray_2_workers": run(train_ray, timed, "timed-ray"),
            "load_average_after": os.getloadavg(),
        }
    ray.shutdown()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def agreement(run, train, train_ray, config) -> dict:
    """The local engine with seeds 0-2 and the Ray engine with seed 0 on the test's config."""
    local = {s: run(train, config.model_copy(update={"seed": s}), f"local{s}") for s in (0, 1, 2)}
    on_ray = run(train_ray, config, "ray")

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    means = {s: mean(r["train_loss"]) for s, r in local.items()}
    val = [r["val_loss"] for r in local.values()]
    return {
        "local_by_seed": local,
        "ray_2_workers_seed_0": on_ray,
        "seed_spread_mean_train_loss": round(max(means.values()) - min(means.values()), 4),
        "seed_spread_val_loss": round(max(val) - min(val), 4),
        "ray_minus_local_seed_0_mean_train_loss": round(mean(on_ray["train_loss"]) - means[0], 4),
        "ray_minus_local_seed_0_val_loss": round(on_ray["val_loss"] - local[0]["val_loss"], 4),
        "load_average_after": os.getloadavg(),
    }


if __name__ == "__main__":
    main()
