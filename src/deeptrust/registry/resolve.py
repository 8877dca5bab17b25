"""One resolver for every place a model is named: ``--model``, ``DEEPTRUST_MODEL``, the reload API.

``resolve_reference(text)`` → a :class:`Resolution` (the local directory to load, and where it came
from). In order: an existing ``.onnx`` file or model directory is used as it is; otherwise ``text`` is
a registry reference — ``photos`` (its ``champion``), ``photos@challenger``, ``photos/3``.

A model directory on the search paths (the bundled ``models/``, ``<home>/models``) whose name the
registry does not know yet is registered as version 1 and made champion the first time the registry is
used for it. Until an embedded registry exists at all a bare name is that directory (what version 1
would be), so a fresh install serves without creating one.

When the registry is unreachable a reference is answered from the local cache (the last version seen
for that alias, checked against its sha256), with ``source="cache"``; with nothing cached it fails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deeptrust.card import ONNX_FILE
from deeptrust.registry._local import ModelNotAllowedError, iter_models
from deeptrust.registry.cache import Cache
from deeptrust.registry.errors import RegistryUnavailableError, UnknownModelError
from deeptrust.registry.reference import ModelReference, parse_reference
from deeptrust.registry.register import register_model
from deeptrust.registry.store import CHAMPION_HISTORY, TAG, Store, VersionInfo
from deeptrust.settings import Settings, get_settings

log = logging.getLogger("deeptrust.registry")
Source = Literal["path", "local", "registry", "cache"]


@dataclass(frozen=True)
class Resolution:
    """What a reference resolved to. ``path``: the model directory, or the ``.onnx`` file named."""

    reference: str
    path: Path
    source: Source
    name: str | None = None
    version: int | None = None
    registry_uri: str | None = None

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path.suffix == ".onnx" else self.path

    @property
    def registry_reachable(self) -> bool | None:
        """False when served from the cache because the registry did not answer; None: not from it."""
        return {"registry": True, "cache": False}.get(self.source)


def resolve_reference(
    text: str | Path, *, settings: Settings | None = None, paths: Sequence[Path] | None = None
) -> Resolution:
    settings = settings or get_settings()
    paths = list(paths) if paths is not None else settings.model_paths
    candidate = Path(text).expanduser()
    if candidate.suffix == ".onnx" and candidate.is_file():
        return Resolution(str(text), candidate, "path")
    if candidate.is_dir() and (candidate / ONNX_FILE).is_file():
        return Resolution(str(text), candidate, "path")
    ref = parse_reference(str(text))
    if ref is None:
        raise UnknownModelError(
            f"no model at {str(text)!r}: not a model directory (model.onnx + card.json), an .onnx file, "
            "or a registry reference (NAME, NAME@ALIAS, NAME/VERSION)"
        )
    store = Store(settings)
    local = find_local(ref.name, paths)
    if not store.exists():  # no registry yet: a bare name is its directory (what version 1 would be)
        if local is not None and ref.bare:
            return Resolution(str(text), local, "local", name=ref.name)
        if local is None:
            known = ", ".join(d.name for d, _ in iter_models(list(paths))) or "none"
            raise UnknownModelError(
                f"no model named or at {str(text)!r}; known models: {known} (a model is a directory with "
                "model.onnx and card.json, or a registered version: `deeptrust models list`)"
            )
    return _from_registry(ref, store, local, paths)


def _from_registry(
    ref: ModelReference, store: Store, local: Path | None, paths: Sequence[Path]
) -> Resolution:
    cache = Cache(store)
    try:
        ensure_registered(store, ref.name, local, paths=paths)
        info = version_of(store, ref)
        path = cache.fetch(info)
        cache.remember_aliases(ref.name, store.aliases(ref.name))
    except RegistryUnavailableError as exc:
        cached = _cached(cache, ref)
        if cached is None:
            raise RegistryUnavailableError(f"{exc}; and no copy of {ref} is cached locally") from exc
        log.warning("registry unreachable; serving %s from the local cache (%s)", ref, cached[0])
        return Resolution(str(ref), cached[0], "cache", ref.name, cached[1], store.uri)
    return Resolution(str(ref), path, "registry", ref.name, info.version, store.uri)


def _cached(cache: Cache, ref: ModelReference) -> tuple[Path, int] | None:
    version = ref.version
    if version is None:
        version = cache.remembered_aliases(ref.name).get(ref.effective_alias or "")
    if version is None:
        return None
    path = cache.cached(ref.name, version)
    return None if path is None else (path, version)


def version_of(store: Store, ref: ModelReference) -> VersionInfo:
    """The registered version a reference names; ``UnknownModelError`` says what exists instead."""
    if not store.has_model(ref.name):
        known = ", ".join(store.names()) or "none"
        raise UnknownModelError(
            f"no model named {ref.name!r} in the registry (registered: {known}); register one with "
            "`deeptrust export` or name a model directory"
        )
    if ref.version is not None:
        try:
            return store.version(ref.name, ref.version)
        except UnknownModelError as exc:
            known = ", ".join(str(v.version) for v in store.versions(ref.name)) or "none"
            raise UnknownModelError(
                f"model {ref.name!r} has no version {ref.version} (versions: {known})"
            ) from exc
    return store.by_alias(ref.name, ref.effective_alias or "champion")


def find_local(name: str, paths: Sequence[Path]) -> Path | None:
    for directory, _ in iter_models(list(paths)):
        if directory.name == name:
            return directory
    return None


def ensure_registered(store: Store, name: str, local: Path | None, *, paths: Sequence[Path] = ()) -> None:
    """A model directory the registry has never seen becomes version 1 and champion (bundled models)."""
    if local is None or store.has_model(name):
        return
    origin = "bundled" if _is_bundled(local) else "local"
    register_model(local, name=name, alias="champion", store=store, tags={TAG + "origin": origin})
    log.info("registered %s model %s from %s as version 1 (champion)", origin, name, local)


def register_known(store: Store, paths: Sequence[Path]) -> list[str]:
    """Register every model directory on the search paths the registry does not know; their names."""
    added = []
    for directory, _ in iter_models(list(paths)):
        if not store.has_model(directory.name):
            ensure_registered(store, directory.name, directory)
            added.append(directory.name)
    return added


def _is_bundled(directory: Path) -> bool:
    from deeptrust.settings import BUNDLED_MODELS

    return directory.resolve().is_relative_to(BUNDLED_MODELS)


def resolve_model(name_or_path: str | Path, paths: list[Path] | None = None) -> Path:
    """A reference (see the module docstring) → the local model directory to load."""
    return resolve_reference(name_or_path, paths=paths).directory


def resolve_trusted(
    reference: str, *, paths: list[Path], allow_dirs: Sequence[Path] = (), settings: Settings | None = None
) -> str:
    """What the service may load for ``reference``: a registry reference (checked now, returned as it
    is so that a later reload follows the alias), or the resolved path of a model directory (or its
    ``.onnx``) inside ``paths`` or ``allow_dirs``. Anything else raises: a caller of the API must not
    make the server load a file placed elsewhere.
    """
    if parse_reference(reference) is not None:
        resolve_reference(reference, paths=paths, settings=settings)
        return reference
    candidate = Path(reference).expanduser().resolve()  # symlinks followed: the real file must be inside
    if not any(candidate.is_relative_to(Path(root).resolve()) for root in [*paths, *allow_dirs]):
        raise ModelNotAllowedError(
            f"{reference!r} is outside the model search paths: load a model by name or registry reference "
            "(`deeptrust models list`), or list its directory in DEEPTRUST_RELOAD_ALLOW_DIRS"
        )
    if not ((candidate / ONNX_FILE).is_file() or (candidate.suffix == ".onnx" and candidate.is_file())):
        raise FileNotFoundError(f"no model at {reference!r} (a directory with model.onnx and card.json)")
    return str(candidate)


__all__ = ["CHAMPION_HISTORY", "Resolution", "resolve_model", "resolve_reference", "resolve_trusted"]
