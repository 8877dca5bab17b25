"""The MLflow Model Registry as deeptrust uses it: one ``Store`` per tracking URI, versions as plain data.

The embedded default is the SQLite file training already tracks into (``<home>/mlflow.db``, artifacts in
``<home>/mlartifacts``); ``MLFLOW_TRACKING_URI`` (or ``DEEPTRUST_MLFLOW_TRACKING_URI``) selects a tracking
server instead. MLflow is imported on first use only, so naming a model by path never loads it.

Every MLflow failure leaves this module as one of :mod:`deeptrust.registry.errors`: an unknown name or
version is ``UnknownModelError``, a server that does not answer is ``RegistryUnavailableError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeptrust.registry.errors import RegistryUnavailableError, UnknownModelError
from deeptrust.settings import Settings, get_settings

log = logging.getLogger("deeptrust.registry")
EXPERIMENT = "deeptrust-registry"  # the runs that hold registered artifacts
TAG = "deeptrust."  # prefix of every tag deeptrust writes
SHA_TAG = TAG + "sha256."  # + file name
CHAMPION_HISTORY = TAG + "champion_history"  # registered-model tag: champions so far, oldest first
_last_probe: dict[str, tuple[float, bool]] = {}  # tracking URI → (monotonic time, answered)


@dataclass(frozen=True)
class VersionInfo:
    """One registered version, as read from the registry (tags without MLflow's objects)."""

    name: str
    version: int
    source: str
    run_id: str
    created_ms: int
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> dict[str, str]:
        """File name → sha256 recorded at registration."""
        return {k[len(SHA_TAG) :]: v for k, v in self.tags.items() if k.startswith(SHA_TAG)}

    @property
    def gate(self) -> bool | None:
        """True/False once a gate ran on this version; None before."""
        value = self.tags.get(TAG + "gate.passed")
        return None if value is None else value == "true"

    def tag(self, key: str, default: str = "") -> str:
        return self.tags.get(TAG + key, default)


class Store:
    """The registry behind one tracking URI. Cheap to build; connects on the first call that needs it."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.uri = tracking_uri(self.settings)
        self._client: Any = None

    # -- where it is and whether it answers --
    @property
    def remote(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    @property
    def key(self) -> str:
        """A short stable name for this registry (its local cache lives under it)."""
        return hashlib.sha256(self.uri.encode()).hexdigest()[:12]

    def exists(self) -> bool:
        """False only for an embedded store that was never created (then nothing is registered)."""
        path = sqlite_path(self.uri)
        return path is None or path.exists()

    def check_reachable(self) -> None:
        """Raise ``RegistryUnavailableError`` unless the tracking server answers ``/health`` in time."""
        if not self.remote:
            return
        timeout = self.settings.registry_timeout_s
        problem = ""
        try:
            with urllib.request.urlopen(self.uri.rstrip("/") + "/health", timeout=timeout) as response:
                if response.status != 200:
                    problem = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problem = str(getattr(exc, "reason", exc)) or type(exc).__name__
        _last_probe[self.uri] = (time.monotonic(), not problem)
        if problem:
            raise RegistryUnavailableError(f"the model registry at {self.uri} does not answer ({problem})")

    def reachable(self, *, max_age_s: float = 0.0) -> bool:
        """Whether the registry answers; a probe younger than ``max_age_s`` is trusted instead."""
        last = _last_probe.get(self.uri)
        if last is not None and time.monotonic() - last[0] < max_age_s:
            return last[1]
        try:
            self.check_reachable()
        except RegistryUnavailableError:
            return False
        return True

    @property
    def client(self) -> Any:
        """The MLflow client, after a reachability check (a down server fails in seconds, not minutes)."""
        if self._client is None:
            self.check_reachable()
            # MLflow reads its HTTP policy from the environment only; without this a down server is
            # retried with back-off for minutes before an error comes back.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault(
                "MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(self.settings.registry_timeout_s * 5))
            )
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            for noisy in ("mlflow.store.db.utils", "alembic.runtime.migration"):  # a new store's migrations
                logging.getLogger(noisy).setLevel(logging.WARNING)
            from mlflow.tracking import MlflowClient

            with self.errors():
                self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    @contextlib.contextmanager
    def errors(self, what: str = "") -> Iterator[None]:
        """MLflow's exceptions → deeptrust's: unknown resource, or registry unavailable."""
        try:
            yield
        except (UnknownModelError, RegistryUnavailableError):
            raise
        except Exception as exc:
            if _error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
                raise UnknownModelError(f"{what or 'model'} is not in the registry ({self.uri})") from exc
            if _unavailable(exc):
                raise RegistryUnavailableError(
                    f"the model registry at {self.uri} cannot be used ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:200] if str(exc) else ''})"
                ) from exc
            raise

    # -- reading --
    def names(self) -> list[str]:
        with self.errors():
            return sorted(m.name for m in self.client.search_registered_models(max_results=1000))

    def has_model(self, name: str) -> bool:
        with self.errors():
            found = self.client.search_registered_models(filter_string=f"name = '{_quote(name)}'")
        return any(m.name == name for m in found)

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, oldest first; ``UnknownModelError`` when the name is unknown."""
        with self.errors(f"model {name!r}"):
            model = self.client.get_registered_model(name)
            found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        aliases: dict[int, list[str]] = {}
        for alias, version in (model.aliases or {}).items():  # searches leave versions' aliases out
            aliases.setdefault(int(version), []).append(alias)
        infos = (_info(mv, aliases.get(int(mv.version))) for mv in found)
        return sorted(infos, key=lambda v: v.version)

    def version(self, name: str, version: int) -> VersionInfo:
        with self.errors(f"version {version} of model {name!r}"):
            return _info(self.client.get_model_version(name, str(version)))

    def by_alias(self, name: str, alias: str) -> VersionInfo:
        aliases = self.aliases(name)  # UnknownModelError for an unknown name
        if alias not in aliases:
            known = ", ".join(f"@{a} → {v}" for a, v in sorted(aliases.items())) or "none"
            raise UnknownModelError(
                f"model {name!r} has no alias {alias!r} (its aliases: {known}); set one with "
                f"`deeptrust models promote {name} VERSION --alias {alias}`"
            )
        try:
            return self.version(name, aliases[alias])
        except UnknownModelError as exc:
            raise UnknownModelError(
                f"alias {alias!r} of model {name!r} points at version {aliases[alias]}, which no longer "
                f"exists; point it elsewhere with `deeptrust models promote {name} VERSION --alias {alias}`"
            ) from exc

    def aliases(self, name: str) -> dict[str, int]:
        with self.errors(f"model {name!r}"):
            model = self.client.get_registered_model(name)
        return {alias: int(version) for alias, version in (model.aliases or {}).items()}

    def model_tags(self, name: str) -> dict[str, str]:
        with self.errors(f"model {name!r}"):
            return dict(self.client.get_registered_model(name).tags or {})

    # -- writing --
    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.version(name, version)  # an unknown version is refused before anything changes
        with self.errors(f"model {name!r}"):
            self.client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        with self.errors(f"alias {alias!r} of model {name!r}"):
            self.client.delete_registered_model_alias(name, alias)

    def set_version_tags(self, name: str, version: int, tags: dict[str, str]) -> None:
        with self.errors(f"version {version} of model {name!r}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(name, str(version), key, value)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        with self.errors(f"model {name!r}"):
            self.client.set_registered_model_tag(name, key, value)

    def experiment_id(self) -> str:
        """The experiment whose runs hold registered artifacts (created with the store's artifact root)."""
        with self.errors():
            found = self.client.get_experiment_by_name(EXPERIMENT)
            if found is not None:
                return str(found.experiment_id)
            location = None
            if not self.remote:  # embedded: beside the store, as training's experiments are
                location = (self.settings.home / "mlartifacts").resolve().as_uri()
            return str(self.client.create_experiment(EXPERIMENT, artifact_location=location))


def tracking_uri(settings: Settings) -> str:
    from deeptrust.train.tracking import tracking_uri as training_uri  # one store for runs and models

    return training_uri(settings)


def sqlite_path(uri: str) -> Path | None:
    """The file behind a ``sqlite:///`` URI, or None for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :])


def _info(mv: Any, aliases: list[str] | None = None) -> VersionInfo:
    return VersionInfo(
        name=mv.name,
        version=int(mv.version),
        source=mv.source or "",
        run_id=mv.run_id or "",
        created_ms=int(mv.creation_timestamp or 0),
        aliases=tuple(sorted(mv.aliases or aliases or ())),
        tags=dict(mv.tags or {}),
    )


def _quote(name: str) -> str:
    return name.replace("'", "''")


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", "") or "")


def _unavailable(exc: BaseException) -> bool:
    """A server that is down or a store that cannot be opened (as opposed to a request it refused)."""
    import requests

    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return True
    text = str(exc)
    if "API request to" in text and ("Max retries" in text or "Connection" in text or "failed" in text):
        return True
    with contextlib.suppress(ImportError):
        import sqlalchemy.exc

        if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.DatabaseError):
            return True
    return (
        "database is locked" in text or "unable to open database" in text or "file is not a database" in text
    )
