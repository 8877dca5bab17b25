"""``deeptrust hashes add|import|export|list|match|hash|remove|sync-review``: the known-image lists.

``add`` lists image files with the hashes of a few crops of each (crop variants); ``import`` takes bare
hashes (a CSV), which get none. ``export`` and ``list`` show entries, never their variants.

Reads DEEPTRUST_DATABASE_URL (default: SQLite under DEEPTRUST_HOME), the database the service reads.
A running service notices changes within DEEPTRUST_HASH_REFRESH_S seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from deeptrust.hashes.store import HashStore

app = typer.Typer(no_args_is_help=True)
MAX_CSV_BYTES = 512 * 1024 * 1024


def _open_store() -> HashStore:
    from deeptrust.hashes.store import HashStore

    store = HashStore.from_settings()
    store.create_schema()
    return store


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(
        f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True
    )
    return typer.Exit(code=2)


@app.command("import")
def import_command(
    csv_file: Annotated[Path, typer.Argument(help="CSV of hash,label,note (label: ai or real).")],
    list_name: Annotated[str, typer.Option("--list", help="The list to add them to, e.g. partner-x.")],
    replace: Annotated[bool, typer.Option(help="Empty the list first: the list becomes the file.")] = False,
) -> None:
    """Import a hash list. Every row or none: a bad row is reported with its line number, nothing written."""
    from deeptrust.hashes.errors import HashListError

    if not csv_file.is_file():
        raise _fail(f"{csv_file}: no such file")
    if csv_file.stat().st_size > MAX_CSV_BYTES:
        raise _fail(f"{csv_file} is {csv_file.stat().st_size:,} bytes, over {MAX_CSV_BYTES:,}; split it")
    try:
        with _open_store() as store:
            n = store.import_csv(
                csv_file.read_bytes(), list_name=list_name, replace=replace, filename=str(csv_file)
            )
    except HashListError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"Imported {n} hashes into list '{escape(list_name)}'.", soft_wrap=True)


@app.command("add")
def add_command(
    images: Annotated[list[Path], typer.Argument(help="Image files confirmed as AI-generated or real.")],
    list_name: Annotated[str, typer.Option("--list", help="The list to add them to, e.g. review.")],
    label: Annotated[str, typer.Option(help="ai or real.")],
    note: Annotated[str | None, typer.Option(help="Shown with every match.")] = None,
) -> None:
    """List images by their PDQ hash and their crop variants' (so cropped copies match too)."""
    from deeptrust.hashes.errors import HashListError
    from deeptrust.imageio import ImageError, open_image

    failed = False
    try:
        with _open_store() as store:
            for path in images:
                try:
                    image = open_image(path)
                except (ImageError, OSError) as exc:
                    Console(stderr=True).print(
                        f"[red]{escape(str(path))}: {escape(str(exc))}[/red]", soft_wrap=True
                    )
                    failed = True
                    continue
                pdq, variants = store.add_image(image, label, list_name=list_name, note=note)
                print(f"{pdq.hex} {label} +{len(variants)} crop variants {path}")
    except HashListError as exc:
        raise _fail(str(exc)) from None
    if failed:
        raise typer.Exit(code=2)


@app.command("export")
def export_command(
    out: Annotated[Path | None, typer.Option(help="CSV file to write (default: standard output).")] = None,
    list_name: Annotated[str | None, typer.Option("--list", help="One list (default: all).")] = None,
) -> None:
    """Write hashes as CSV (hash,label,note), the format `import` reads."""
    from deeptrust.hashes.errors import HashListError

    try:
        with _open_store() as store:
            if out is None:
                store.export_csv(sys.stdout, list_name)
                return
            tmp = out.with_name(out.name + ".partial")
            with tmp.open("w", encoding="utf-8", newline="") as handle:
                n = store.export_csv(handle, list_name)
            tmp.replace(out)  # a reader never sees half a file
    except HashListError as exc:
        raise _fail(str(exc)) from None
    Console(stderr=True).print(f"Wrote {n} hashes to {escape(str(out))}.", soft_wrap=True)


@app.command("list")
def list_command() -> None:
    """The lists, with how many AI and real hashes each holds."""
    with _open_store() as store:
        lists = store.lists()
    table = Table(title=f"Hash lists: {len(lists)}")
    for column in ("list", "ai", "real", "with crop variants", "updated (UTC)"):
        table.add_column(column, justify="left" if column in ("list", "updated (UTC)") else "right")
    for entry in lists:
        counts = (str(entry[k]) for k in ("ai", "real", "with_crops"))
        table.add_row(escape(entry["list"]), *counts, str(entry["updated_at"] or ""))
    Console().print(table)


@app.command("hash")
def hash_command(images: Annotated[list[Path], typer.Argument(help="Image files.")]) -> None:
    """Print each image's PDQ hash and quality (hash quality path)."""
    from deeptrust.evidence.pdq import hash_image
    from deeptrust.imageio import ImageError, open_image

    failed = False
    for path in images:
        try:
            pdq = hash_image(open_image(path))
        except (ImageError, OSError) as exc:
            Console(stderr=True).print(f"[red]{escape(str(path))}: {escape(str(exc))}[/red]", soft_wrap=True)
            failed = True
            continue
        print(f"{pdq.hex} {pdq.quality:3d} {path}")
    if failed:
        raise typer.Exit(code=2)


@app.command("match")
def match_command(
    images: Annotated[list[Path], typer.Argument(help="Image files to look up.")],
    max_distance: Annotated[
        int | None, typer.Option(min=0, max=256, help="Default: DEEPTRUST_HASH_MAX_DISTANCE.")
    ] = None,
) -> None:
    """Look images up in the lists: the nearest listed hash within the distance, per image."""
    from deeptrust.evidence.pdq import hash_image
    from deeptrust.hashes.matcher import HashMatcher
    from deeptrust.imageio import ImageError, open_image
    from deeptrust.settings import get_settings

    distance = get_settings().hash_max_distance if max_distance is None else max_distance
    with _open_store() as store:
        matcher = HashMatcher(store, max_distance=distance)
        matcher.refresh(wait=True)
        table = Table(title=f"{len(images)} images against {matcher.size} listed hashes (≤ {distance} bits)")
        for column in ("image", "pdq", "quality", "match", "distance", "list", "through crop", "note"):
            table.add_column(column)
        for path in images:
            try:
                pdq = hash_image(open_image(path))
            except (ImageError, OSError) as exc:
                table.add_row(escape(str(path)), f"[red]{escape(str(exc))}[/red]", *[""] * 6)
                continue
            hit = matcher.lookup(pdq)
            row = [escape(str(path)), pdq.hex[:16] + "…", str(pdq.quality)]
            if hit is None:
                row += ["none", "", "", "", ""]
            else:
                row += [
                    hit.label,
                    str(hit.distance),
                    escape(hit.list_name),
                    hit.crop or "",
                    escape(hit.note or ""),
                ]
            table.add_row(*row)
    Console().print(table)


@app.command("remove")
def remove_command(
    pdq: Annotated[str, typer.Argument(help="The hash (64 hex digits).")],
    list_name: Annotated[str, typer.Option("--list", help="The list to remove it from.")],
) -> None:
    """Remove one hash from a list."""
    from deeptrust.hashes.errors import HashListError

    try:
        with _open_store() as store:
            removed = store.remove(pdq, list_name=list_name)
    except HashListError as exc:
        raise _fail(str(exc)) from None
    if not removed:
        raise _fail(f"hash {pdq[:16]}… is not in list '{list_name}'")
    Console().print(f"Removed {pdq[:16]}… from '{escape(list_name)}'.")


@app.command("sync-review")
def sync_review_command(
    real_class: Annotated[str, typer.Option(help="The class name moderators use for real photos.")] = "REAL",
) -> None:
    """Add the images moderators reviewed (approved or relabelled) to the 'review' list."""
    from deeptrust.feedback import FeedbackStore
    from deeptrust.hashes.review import sync_review

    with _open_store() as hashes, FeedbackStore.from_settings() as feedback:
        feedback.create_schema()
        added, skipped = sync_review(hashes, feedback, real_class=real_class)
    Console().print(
        f"Listed {added} reviewed images in 'review' ({skipped} without a decision or image file)."
    )
