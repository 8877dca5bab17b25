"""The Ray engine: the same scan on Ray Data, for a cluster (or every core of one big machine).

    read units (file chunks, whole archives) ─flat_map─► {path, bytes}
        ─map_batches(decode_batch)─► sha256, claim, decode + preprocess (tasks)
        ─map_batches(Scorer, actor pool)─► probabilities (each actor holds one ONNX Runtime session)
        ─► driver: the same Resolver and writer as the local engine

Content is scored once across the cluster: decode tasks claim each sha256 from a small registry
actor and skip decoding copies, which the driver fills in from their owner's outcome. Every
worker must see the input paths (a shared file system) and have deeptrust installed.
Ray is imported only here: ``pip install 'deeptrust[ray]'``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from deeptrust.detector import Detector
from deeptrust.scan.errors import ScanError
from deeptrust.scan.results import Outcome, Resolver, Row
from deeptrust.scan.scoring import cached_detector, decode_one, predict_outcomes, sha256_hex
from deeptrust.scan.sources import Input, Source, iter_inputs, read_input

Emit = Callable[[list[Row]], None]
FILES_PER_READ_TASK = 64
# A block is what one actor call receives. Ray's default (128 MiB) is ~1000 photos: a few actors
# would get the whole scan while the others idle, and rows would reach the writer in big lumps.
BLOCK_BYTES = 8 * 1024 * 1024
# Reading asks for no CPU, so Ray would run every read task at once, each in a new worker process;
# one reader per few actors keeps up (reading and hashing cost a tenth of decoding and scoring).
READERS_PER_ACTOR = 4


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # the extra's other half; fail here, not inside a Ray task
    except ImportError as exc:
        raise ScanError(
            f"--engine ray needs Ray Data ({exc.name} is missing): pip install 'deeptrust[ray]'"
        ) from exc
    return ray


def scan_ray(
    sources: Sequence[Source],
    *,
    skip: Container[str],
    detector: Detector,
    resolver: Resolver,
    emit: Emit,
    address: str | None,
    actors: int,
    threads: int,
    batch_size: int,
    max_bytes: int,
) -> None:
    """Score the inputs of ``sources`` not in ``skip`` on Ray and ``emit`` their rows on the driver.

    ``actors`` scoring actors of ``threads`` CPUs each (0: as many as the cluster's CPUs allow).
    Reading asks for no CPU (it is I/O) and runs in a few tasks; decoding asks for the actors' CPUs,
    so Ray fuses it into the actors: each decodes its own batch next to its model, and crops never
    cross the object store.
    """
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        units = plan_units(sources, skip=skip)
        if units:
            _run(
                ray,
                units,
                detector=detector,
                resolver=resolver,
                emit=emit,
                actors=actors,
                threads=threads,
                batch_size=batch_size,
                max_bytes=max_bytes,
            )
    finally:
        if started:
            ray.shutdown()


def _run(
    ray: Any,
    units: list[dict[str, Any]],
    *,
    detector: Detector,
    resolver: Resolver,
    emit: Emit,
    actors: int,
    threads: int,
    batch_size: int,
    max_bytes: int,
) -> None:
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    cpus = max(threads, 1)
    actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1) // cpus))
    claims = ray.remote(num_cpus=0)(ClaimRegistry).remote()
    ray.get(claims.seed.remote(list(resolver.known)))
    model = {"model_path": str(detector.path), "threads": threads, "max_pixels": detector.max_pixels}
    with _data_context(enable_progress_bars=False, target_max_block_size=BLOCK_BYTES):
        dataset = (
            ray.data.from_items(units, override_num_blocks=len(units))
            .flat_map(
                read_unit,
                fn_kwargs={"max_bytes": max_bytes},
                num_cpus=0,
                compute=ray.data.TaskPoolStrategy(size=max(1, actors // READERS_PER_ACTOR)),
            )
            .map_batches(
                decode_batch, batch_size=batch_size, num_cpus=cpus, fn_kwargs={"claims": claims, **model}
            )
            .map_batches(
                Scorer,
                batch_size=batch_size,
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=cpus,
                fn_constructor_kwargs=model,
            )
        )
        for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
            emit(_resolve_batch(batch, resolver))


@contextmanager
def _data_context(**settings: Any) -> Iterator[None]:
    """Ray Data settings for this scan only (the context is the driver's, shared with its other uses)."""
    import ray.data

    context = ray.data.DataContext.get_current()
    before = {name: getattr(context, name) for name in settings}
    for name, value in settings.items():
        setattr(context, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(context, name, value)


def plan_units(sources: Sequence[Source], *, skip: Container[str]) -> list[dict[str, Any]]:
    """Read tasks: chunks of plain files, and one task per archive (streamed, never extracted)."""
    units: list[dict[str, Any]] = []
    for source in sources:
        pending = [key for key in source.iter_keys() if key not in skip]
        if not pending:
            continue
        if source.error or source.archive is None:
            for start in range(0, len(pending), FILES_PER_READ_TASK):
                chunk = pending[start : start + FILES_PER_READ_TASK]
                units.append({"archive": "", "names": chunk, "error": source.error})
        else:
            names = [key[len(source.archive) + 2 :] for key in pending]
            units.append({"archive": source.archive, "names": names, "error": ""})
    return units


def read_unit(unit: dict[str, Any], *, max_bytes: int) -> Iterator[dict[str, Any]]:
    """Ray task: the bytes of one unit's inputs, or their read errors."""
    names = [str(name) for name in unit["names"]]
    if unit["error"]:
        yield from ({"path": name, "data": b"", "error": str(unit["error"])} for name in names)
        return
    if unit["archive"]:
        items: Iterator[Input] = iter_inputs(
            [Source(tuple(names), archive=str(unit["archive"]))], skip=(), max_bytes=max_bytes
        )
    else:
        items = (Input(name) for name in names)
    for item in items:
        data, error = read_input(item, max_bytes=max_bytes)
        yield {"path": item.path, "data": data or b"", "error": error}


def decode_batch(
    batch: dict[str, np.ndarray], *, claims: Any, model_path: str, threads: int, max_pixels: int
) -> dict[str, Any]:
    """Ray task: hash, claim, and decode + preprocess the contents this batch owns."""
    import ray

    paths = [str(p) for p in batch["path"]]
    errors = [str(e) for e in batch["error"]]
    shas = [sha256_hex(bytes(d)) if not e else "" for d, e in zip(batch["data"], errors, strict=True)]
    owners = ray.get(claims.claim.remote([(s, p) for s, p in zip(shas, paths, strict=True) if s]))
    owner_of = dict(zip([p for s, p in zip(shas, paths, strict=True) if s], owners, strict=True))
    detector = cached_detector(model_path, threads, max_pixels)  # the Scorer's, when fused
    crops: list[np.ndarray] = []
    outcomes: list[Outcome] = []
    for path, data, error in zip(paths, batch["data"], errors, strict=True):
        if error or owner_of[path] != path:
            crops.append(_NO_CROPS)
            outcomes.append(Outcome(error=error))
            continue
        crop, outcome = decode_one(detector, bytes(data))
        crops.append(_NO_CROPS if crop is None else crop)
        outcomes.append(outcome)
    copy = [not e and owner_of[p] != p for p, e in zip(paths, errors, strict=True)]
    return {
        "path": paths,
        "sha256": shas,
        "copy": copy,
        "crops": _ragged(crops),
        **_outcome_columns(outcomes),
    }


_NO_CROPS = np.zeros((0, 3, 1, 1), np.float32)


def _ragged(arrays: list[np.ndarray]) -> np.ndarray:
    column = np.empty(len(arrays), dtype=object)
    column[:] = arrays
    return column


def _outcome_columns(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "width": np.array([o.width or 0 for o in outcomes], np.int64),
        "height": np.array([o.height or 0 for o in outcomes], np.int64),
        "format": [o.format for o in outcomes],
        "error": [o.error for o in outcomes],
        "evidence": [o.evidence for o in outcomes],
    }


class Scorer:
    """Ray actor: one ONNX Runtime session, reused for every batch it is given."""

    def __init__(self, model_path: str, threads: int, max_pixels: int) -> None:
        self.detector = cached_detector(model_path, threads, max_pixels)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        crops = [c if len(c) else None for c in batch["crops"]]
        outcomes = [
            Outcome(int(w) or None, int(h) or None, str(f), None, str(e), str(v))
            for w, h, f, e, v in zip(
                batch["width"],
                batch["height"],
                batch["format"],
                batch["error"],
                batch["evidence"],
                strict=True,
            )
        ]
        scored = predict_outcomes(self.detector, crops, outcomes)
        classes = len(self.detector.card.class_names)
        probs = np.array([o.probs if o.probs else (np.nan,) * classes for o in scored], np.float64)
        return {k: v for k, v in batch.items() if k != "crops"} | {"probs": probs.reshape(-1, classes)}


def _resolve_batch(batch: dict[str, np.ndarray], resolver: Resolver) -> list[Row]:
    rows: list[Row] = []
    for i, path in enumerate(batch["path"]):
        path, sha, error = str(path), str(batch["sha256"][i]), str(batch["error"][i])
        if batch["copy"][i]:
            rows.extend(resolver.copy(path, sha))
            continue
        probs = batch["probs"][i]
        outcome = Outcome(
            int(batch["width"][i]) or None,
            int(batch["height"][i]) or None,
            str(batch["format"][i]),
            None if error or np.isnan(probs).any() else tuple(float(p) for p in probs),
            error,
            str(batch["evidence"][i]),
        )
        rows.extend(resolver.resolve(path, sha, outcome))
    return rows


class ClaimRegistry:
    """Ray actor: the first path to claim a sha256 owns it; every later claim gets that owner back.

    Retried tasks claim again with the same path and still own their content. Seeded with the
    contents already in a resumed output (owner ``""``), so their copies are never rescored.
    """

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}

    def seed(self, shas: Sequence[str]) -> None:
        self.owners.update(dict.fromkeys(shas, ""))

    def claim(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        return [self.owners.setdefault(sha, path) for sha, path in pairs]
