"""``deeptrust models list | show | promote | rollback | diff``: the registry from the command line.

Every command exits 2 with one line on stderr for a bad reference, an unreachable registry or a refused
promotion; ``list`` first registers the model directories on the search path it has not met yet.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from deeptrust.registry.errors import RegistryError
from deeptrust.registry.store import Store, VersionInfo

EXIT_USAGE = 2


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Registry and lookup errors → one red line and exit 2 (no traceback)."""
    try:
        yield
    except (RegistryError, FileNotFoundError, ValueError, ConnectionError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(EXIT_USAGE) from exc


def version_row(info: VersionInfo) -> dict[str, Any]:
    """One version as ``models list --json`` prints it."""
    summary = info.tag("gate.summary")
    return {
        "name": info.name,
        "version": info.version,
        "aliases": list(info.aliases),
        "card_version": info.tag("card.version"),
        "family": info.tag("card.family"),
        "classes": info.tag("card.classes").split(",") if info.tag("card.classes") else [],
        "threshold": info.tag("card.threshold"),
        "gate": {True: "passed", False: "failed", None: "not run"}[info.gate],
        "gate_suite": info.tag("gate.suite"),
        "gate_summary": json.loads(summary) if summary else None,
        "forced": info.tag("forced.reason") or None,
        "dataset": info.tag("dataset.name"),
        "dataset_hash": info.tag("dataset.hash"),
        "git_commit": info.tag("git.commit"),
        "created": dt.datetime.fromtimestamp(info.created_ms / 1000, dt.UTC).isoformat(timespec="seconds"),
        "sha256": info.sha256,
    }


def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    name: str | None = typer.Argument(None, help="Only this model's versions."),
) -> None:
    """Registered versions with their aliases, gate results and dataset hashes."""
    from deeptrust.registry.resolve import register_known

    store = Store()
    with clear_errors():
        register_known(store, store.settings.model_paths)
        names = [name] if name else store.names()
        rows = [version_row(v) for n in names for v in store.versions(n)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"deeptrust models ({store.uri})")
    for column in ("name", "version", "aliases", "card", "gate", "dataset hash", "commit", "created"):
        table.add_column(column, overflow="fold")
    for row in rows:
        gate = row["gate"] + (" (forced)" if row["forced"] else "")
        table.add_row(
            row["name"],
            str(row["version"]),
            ", ".join("@" + a for a in row["aliases"]) or "–",
            row["card_version"],
            gate,
            row["dataset_hash"][:12] or "–",
            row["git_commit"][:8] or "–",
            row["created"][:16].replace("T", " "),
        )
    Console().print(table)  # made per call: it reads the terminal's width (COLUMNS) when created


def show_model(
    reference: str = typer.Argument(..., help="NAME, NAME@ALIAS, NAME/VERSION or a path."),
) -> None:
    """A model's card as JSON; for a registry reference, with its version, aliases and tags."""
    from deeptrust.card import load_card
    from deeptrust.registry.resolve import resolve_reference

    with clear_errors():
        resolution = resolve_reference(reference)
        card = load_card(resolution.directory)
        if resolution.version is None or resolution.name is None:
            typer.echo(card.to_json())
            return
        info = Store().version(resolution.name, resolution.version)
    body = {**card.to_dict(), "registry": {**version_row(info), "tags": info.tags, "source": info.source}}
    typer.echo(json.dumps(body, indent=2))


def promote_model(
    name: str = typer.Argument(..., help="Registered model name."),
    version: int = typer.Argument(..., min=1, help="Version to promote."),
    alias: str = typer.Option("champion", "--alias", help="Alias to point at the version."),
    force: bool = typer.Option(False, "--force", help="Promote although the gate did not pass."),
    reason: str = typer.Option("", "--reason", help="Why (required with --force; recorded)."),
) -> None:
    """Point an alias (default champion) at a version that passed the quality gate."""
    from deeptrust.registry.lifecycle import promote

    with clear_errors():
        info = promote(name, version, alias=alias, force=force, reason=reason)
    forced = f" (forced: {reason})" if force and info.gate is not True else ""
    typer.echo(f"{name}@{alias} → version {version}{forced}")


def rollback_model(name: str = typer.Argument(..., help="Registered model name.")) -> None:
    """Point champion back at the previous champion."""
    from deeptrust.registry.lifecycle import rollback

    with clear_errors():
        current, previous = rollback(name)
    typer.echo(f"{name}@champion: version {current} → version {previous}")


def diff_models(
    name: str = typer.Argument(..., help="Registered model name."),
    a: int = typer.Argument(..., min=1, help="First version."),
    b: int = typer.Argument(..., min=1, help="Second version."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """What differs between two versions: card, data, code, gate and artifact hashes."""
    from deeptrust.registry.lifecycle import diff_versions

    with clear_errors():
        rows = diff_versions(name, a, b)
    if as_json:
        typer.echo(json.dumps([{"field": f, str(a): x, str(b): y} for f, x, y in rows], indent=2))
        return
    table = Table(title=f"{name}: version {a} vs {b}")
    for column in ("field", f"v{a}", f"v{b}", ""):
        table.add_column(column, overflow="fold")
    for field, x, y in rows:
        table.add_row(field, x, y, "" if x == y else "≠")
    Console().print(table)
