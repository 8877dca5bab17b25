"""``deeptrust simulate``: replay real images against a running service, open loop, and print a summary.

Examples::

    deeptrust simulate --url http://127.0.0.1:8000 --data ../shared/datasets/sd-vs-photos.tar.gz --rate 10
    deeptrust simulate --url http://127.0.0.1:8000 --data sd-vs-photos --pattern diurnal --duration 10m \\
        --drift-after 5m --drift-data ../shared/datasets/multigen.tar.gz --feedback-rate 0.1 --json run.json

Exit codes: 0 done (failed requests are results, see the summary), 2 bad arguments, data or service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from deeptrust.simulate.schedule import Pattern

EXIT_USAGE = 2


def simulate(
    url: str = typer.Option(..., "--url", help="The service, e.g. http://127.0.0.1:8000."),
    data: str = typer.Option(
        ...,
        "--data",
        help="Images to replay: a folder (ImageFolder), .tar/.tar.gz archive or imported dataset.",
    ),
    rate: float = typer.Option(5.0, "--rate", help="Requests per second (the mean, for diurnal)."),
    pattern: Pattern = typer.Option(Pattern.constant, "--pattern", help="constant, diurnal or spike."),
    duration: str = typer.Option("60s", "--duration", help="How long to send: seconds, or 90s, 15m, 2h."),
    period: str | None = typer.Option(
        None, "--period", help="Diurnal: one simulated day (default: --duration)."
    ),
    spike_factor: float = typer.Option(
        5.0, "--spike-factor", help="Spike: times the rate, 40-50 % of the run."
    ),
    drift_after: str | None = typer.Option(
        None, "--drift-after", help="Switch to --drift-data after this long."
    ),
    drift_data: str | None = typer.Option(None, "--drift-data", help="The images sent after --drift-after."),
    feedback_rate: float = typer.Option(
        0.0, "--feedback-rate", help="Share of answers a simulated user checks; wrong ones are corrected."
    ),
    limit: int = typer.Option(
        500, "--limit", help="Images read per source (a seeded sample), held in memory."
    ),
    split: str | None = typer.Option(None, "--split", help="Imported datasets: only this split (e.g. test)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="DEEPTRUST_API_KEY", help="Bearer key."),
    seed: int = typer.Option(0, "--seed", help="Sampling and feedback choices."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the summary here as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress on stderr."),
) -> None:
    """Replay images from DATA at a scheduled rate; latency counts from each request's due time."""
    options = dict(locals())  # the command's arguments, before anything else is bound here
    from deeptrust.simulate import SimulateError

    try:
        summary = _simulate(**options)
    except SimulateError as exc:
        _fail(str(exc))
    if json_out is not None:
        json_out.write_text(json.dumps(summary, indent=2) + "\n")


def _simulate(**opts) -> dict:  # type: ignore[no-untyped-def]
    """Arguments first, then the service, then the data (the slow part), then the run."""
    from deeptrust.simulate.run import Plan, check_service, validate_plan
    from deeptrust.simulate.schedule import parse_seconds, send_times
    from deeptrust.simulate.summary import print_summary, summarize

    err = Console(stderr=True)
    duration = parse_seconds(opts["duration"], "--duration")
    period = parse_seconds(opts["period"], "--period") if opts["period"] else None
    after = _drift_after(opts, duration)
    times = send_times(
        opts["pattern"], opts["rate"], duration, period=period, spike_factor=opts["spike_factor"]
    )
    plan = Plan(
        url=opts["url"], times=times, phases=[], duration=duration, pattern=opts["pattern"].value,
        feedback_rate=opts["feedback_rate"], api_key=opts["api_key"], seed=opts["seed"],
    )  # fmt: skip
    validate_plan(plan)
    check_service(opts["url"], api_key=opts["api_key"])
    plan.phases = _phases(opts, after)
    err.print(
        f"sending {len(times)} requests over {duration:g} s ({plan.pattern}) to {escape(plan.url)}; "
        + ", ".join(f"{p.name}: {len(p.samples)} images from {p.start:g} s" for p in plan.phases)
    )
    result = _run_with_progress(plan, len(times), enabled=opts["progress"], console=err)
    summary = summarize(result)
    print_summary(summary, Console())
    return summary


def _drift_after(opts: dict, duration: float) -> float | None:  # type: ignore[type-arg]
    from deeptrust.simulate.errors import SimulateError
    from deeptrust.simulate.schedule import parse_seconds

    if (opts["drift_after"] is None) != (opts["drift_data"] is None):
        raise SimulateError("--drift-after and --drift-data go together: give both or neither")
    if opts["drift_after"] is None:
        return None
    after = parse_seconds(opts["drift_after"], "--drift-after")
    if after >= duration:
        raise SimulateError(f"--drift-after ({after:g} s) must be shorter than --duration ({duration:g} s)")
    return after


def _phases(opts: dict, after: float | None) -> list:  # type: ignore[type-arg]
    from deeptrust.simulate.run import Phase
    from deeptrust.simulate.sources import load_samples

    def load(spec: str):  # type: ignore[no-untyped-def]
        return load_samples(spec, limit=opts["limit"], seed=opts["seed"], split=opts["split"])

    phases = [Phase(_name(opts["data"]), 0.0, load(opts["data"]))]
    if after is not None:
        name = _name(opts["drift_data"])
        name = name if name != phases[0].name else f"{name} (after drift)"
        phases.append(Phase(name, after, load(opts["drift_data"])))
    return phases


def _name(spec: str) -> str:
    name = Path(spec.rstrip("/")).name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        name = name.removesuffix(suffix)
    return name or spec


def _run_with_progress(plan, total: int, *, enabled: bool, console: Console):  # type: ignore[no-untyped-def]
    from deeptrust._progress import create_progress
    from deeptrust.simulate.run import run_plan

    with create_progress(enabled=enabled, unit="req", console=console) as bar:
        task = bar.add_task("requests", total=total)
        failed = 0

        def done(outcome) -> None:  # type: ignore[no-untyped-def]
            nonlocal failed
            failed += outcome.status == 0 or outcome.status >= 500
            bar.update(task, advance=1, description=f"{outcome.phase} (failed {failed})")

        return run_plan(plan, on_done=done)


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(EXIT_USAGE)
