"""``deeptrust monitor profile`` (attach a reference profile to a model's card) and ``deeptrust monitor
drift`` (the service's drift statistics, offline, as an HTML report with plots).

Examples::

    deeptrust monitor profile --model photos --data multigen --data photos-1.0-data --split val
    deeptrust monitor drift --model photos --data ../shared/datasets/sd-vs-photos.tar.gz --split all \\
        --report drift.html --json drift.json
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

EXIT_USAGE = 2
EXIT_DRIFT = 1  # `monitor drift --fail-on-drift`: some signal drifts

app = typer.Typer(
    no_args_is_help=True, help="Drift monitoring: reference profiles and offline drift reports."
)


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def _paths(
    model_card: Any, data: list[str], split: str, limit: int | None, seed: int
) -> tuple[list[str], list[dict]]:
    """Image paths of ``split`` of every ``--data`` (a model's own part keeps its training split)."""
    from deeptrust.evaluate.cli import _dataset_args, _load_manifest
    from deeptrust.evaluate.run import DataError, select_rows

    paths: list[str] = []
    described = []
    for source in data:
        resolved, options = _dataset_args(source, model_card.dataset)
        manifest = _load_manifest(resolved, options)
        manifest = manifest[manifest["excluded_reason"] == ""] if "excluded_reason" in manifest else manifest
        try:
            rows = select_rows(manifest, split=None if split == "all" else split, limit=limit, seed=seed)
        except DataError as exc:
            _fail(f"cannot read {source!r}: {exc}")
        paths += rows["path"].tolist()
        described.append({"source": Path(resolved).name if Path(resolved).exists() else resolved,
                          "name": options.get("name", source), "split": split, "n": len(rows)})  # fmt: skip
    return paths, described


def _collect(detector: Any, paths: list[str]) -> Any:
    from deeptrust._progress import create_progress
    from deeptrust.monitor.collect import collect

    with create_progress(enabled=True, unit="img") as bar:
        task = bar.add_task("scoring", total=len(paths))
        return collect(detector, paths, progress=lambda: bar.advance(task))


@app.command("profile")
def profile_command(
    model: str = typer.Option(
        ..., "--model", "-m", help="Model name or directory whose card gets the profile."
    ),
    data: list[str] = typer.Option(..., "--data", "-d", help="Reference data (repeat for several parts)."),
    split: str = typer.Option("val", "--split", help="Split of each --data ('all': every image)."),
    out: Path | None = typer.Option(
        None, "--out", help="Write a copy of the model here instead of in place."
    ),
    limit: int | None = typer.Option(None, "--limit", min=2, help="A seeded sample of N images per --data."),
    seed: int = typer.Option(0, "--seed"),
    components: int = typer.Option(8, "--components", min=1, help="Principal directions of the embedding."),
) -> None:
    """Compute a reference profile (scores, image properties, embedding summary); write it into the card."""
    from deeptrust.card import ONNX_FILE, save_card
    from deeptrust.detector import Detector
    from deeptrust.monitor.profile import build_profile
    from deeptrust.registry import resolve_model

    try:
        directory = resolve_model(model)
        detector = Detector.load(directory)
    except (OSError, ValueError) as exc:
        _fail(f"cannot load model {model!r}: {exc}")
    paths, described = _paths(detector.card, data, split, limit, seed)
    collected = _collect(detector, paths)
    if len(collected.p_ai) < 2:
        _fail(
            f"only {len(collected.p_ai)} readable images in {', '.join(data)} ({split}); a profile needs 2+"
        )
    profile = build_profile(
        collected.p_ai, collected.properties, collected.embeddings,
        data={"parts": described, "unreadable": len(collected.errors)}, components=components,
    )  # fmt: skip
    card = detector.card.replace(drift_profile=profile)
    target = directory
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(directory / ONNX_FILE, out / ONNX_FILE)
        target = out
    path = save_card(card, target)
    console = Console()
    emb = profile["embedding"]
    console.print(
        f"profile of [bold]{card.name}[/] {card.version}: {profile['n']:,} images "
        f"({', '.join(_part(d) for d in described)}); "
        + (
            f"embedding {emb['dim']} → {emb['components']} directions"
            if emb
            else "no embedding (no feature output)"
        )
    )
    if collected.errors:
        console.print(f"[yellow]note:[/] {len(collected.errors)} unreadable images skipped")
    console.print(f"wrote [bold]{path}[/]")


def _part(d: dict[str, Any]) -> str:
    return f"{d['name']} {d['split']} {d['n']:,}"


@app.command("drift")
def drift_command(
    model: str = typer.Option(..., "--model", "-m", help="Model name, directory or .onnx file."),
    data: list[str] = typer.Option(
        ..., "--data", "-d", help="The traffic to test (repeat for several parts)."
    ),
    split: str = typer.Option("all", "--split", help="Split of each --data ('all': every image)."),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report with plots here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the statistics as JSON here."),
    window: int | None = typer.Option(
        None, "--window", min=2, help="Also test consecutive windows of N images."
    ),
    limit: int | None = typer.Option(None, "--limit", min=2, help="A seeded sample of N images per --data."),
    seed: int = typer.Option(0, "--seed"),
    alpha: float | None = typer.Option(
        None, "--alpha", help="Level of each threshold (default: the service's)."
    ),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when any signal drifts."),
) -> None:
    """Test data against the card's reference profile with the service's statistics; print, JSON, HTML."""
    from deeptrust.detector import Detector
    from deeptrust.monitor.offline import drift_report
    from deeptrust.monitor.profile import NoProfileError, Profile
    from deeptrust.settings import get_settings

    try:
        detector = Detector.load(model)
    except (OSError, ValueError) as exc:
        _fail(f"cannot load model {model!r}: {exc}")
    try:
        profile = Profile.from_card(detector.card)
    except NoProfileError:
        _fail(
            f"the card of {detector.card.name} {detector.card.version} carries no reference profile, so "
            "there is nothing to compare with: add one with "
            f"`deeptrust monitor profile --model {model} --data SRC`"
        )
    except (KeyError, ValueError, TypeError) as exc:
        _fail(f"the reference profile of {model!r} cannot be read: {exc}")
    settings = get_settings()
    paths, described = _paths(detector.card, data, split, limit, seed)
    collected = _collect(detector, paths)
    if len(collected.p_ai) < 2:
        _fail(f"only {len(collected.p_ai)} readable images in {', '.join(data)} ({split}); need 2+")
    result = drift_report(
        profile, collected, alpha=alpha if alpha is not None else settings.drift_alpha,
        permutations=settings.drift_permutations, window=window, seed=seed,
    )  # fmt: skip
    result |= {"model": {"name": detector.card.name, "version": detector.card.version}, "data": described}
    console = Console()
    _print(result, console)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        public = {k: v for k, v in result.items() if not k.startswith("_")}
        json_out.write_text(json.dumps(public, indent=2) + "\n")
        console.print(f"wrote [bold]{json_out}[/]")
    if report is not None:
        from deeptrust.monitor.report import write_report

        console.print(f"wrote [bold]{write_report(result, profile, report)}[/]")
    if fail_on_drift and result["drifting"]:
        raise typer.Exit(EXIT_DRIFT)


def _print(result: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    m = result["model"]
    console.print(
        f"[bold]{m['name']}[/] {m['version']} · {result['n']:,} images against a reference of "
        f"{result['reference_n']:,} · alpha {result['alpha']:g}"
    )
    table = Table(title="Drift (whole sample as one window)", title_justify="left")
    for col in ("signal", "statistic", "threshold", "drift"):
        table.add_column(col, justify="left" if col == "signal" else "right")
    for name, s in result["signals"].items():
        table.add_row(
            name, f"{s['statistic']:.4g}", f"{s['threshold']:.4g}", "[red]yes[/]" if s["detected"] else "no"
        )
    console.print(table)
    if result.get("windows"):
        flagged = sum(bool(w["drifting"]) for w in result["windows"])
        console.print(
            f"consecutive windows of {result['window']}: {flagged} of {len(result['windows'])} drift"
        )
    console.print(
        "[red]drift in " + ", ".join(result["drifting"]) + "[/]"
        if result["drifting"]
        else "no drift detected"
    )
