"""The model registry: versions, aliases and one resolver for every model reference.

Backed by the MLflow Model Registry: the embedded SQLite store under the deeptrust home by default
(``<home>/mlflow.db``, the one training tracks into), a tracking server when ``MLFLOW_TRACKING_URI``
is set. MLflow is imported only when the registry is used, never on import of this package.

References (``resolve``, ``--model``, ``DEEPTRUST_MODEL``, ``POST /v1/models/reload``)::

    photos              the champion of "photos"        photos@challenger   any alias
    photos/3            version 3                       models/photos       a model directory
    path/to/model.onnx  an ONNX file (its card beside or inside it)

API (all take ``store=Store(settings)`` to pick a registry; default: from ``get_settings()``)::

    register(model_dir, name=None, tags=None, alias=None) -> int     # a new version; sha256 tags
    resolve(reference) -> Path                  # local, verified model directory (cached download)
    resolve_reference(reference) -> Resolution  # .path, .source ("path"|"local"|"registry"|"cache"),
                                                # .name, .version, .registry_reachable
    set_alias(name, alias, version)             # unchecked; promote(name, version, alias=...,
    promote(...), rollback(name)                #   force=False, reason="") checks the gate
    record_gate(name, version, passed=, report_path=, summary=, suite=)
    Store().versions(name) / .version(name, v) / .by_alias(name, alias) / .aliases(name) -> VersionInfo…
    diff_versions(name, a, b)

Errors (``deeptrust.registry.errors``): ``UnknownModelError`` (a ``FileNotFoundError``),
``RegistryUnavailableError`` (a ``ConnectionError``; raised only when nothing is cached),
``ArtifactIntegrityError`` (sha256 mismatch), ``RegistrationError``, ``PromotionRefusedError``.

Model directories found by name on ``DEEPTRUST_MODEL_PATHS`` (``iter_models``) are registered as
version 1 (champion) when the registry first meets their name: the bundled models among them.
"""

from __future__ import annotations

from deeptrust.registry._local import MODEL_NAME, ModelNotAllowedError, iter_models
from deeptrust.registry.errors import (
    ArtifactIntegrityError,
    PromotionRefusedError,
    RegistrationError,
    RegistryError,
    RegistryUnavailableError,
    UnknownModelError,
)
from deeptrust.registry.lifecycle import (
    CHALLENGER,
    CHAMPION,
    diff_versions,
    promote,
    record_gate,
    rollback,
    set_alias,
)
from deeptrust.registry.reference import ModelReference, parse_reference
from deeptrust.registry.register import register_model
from deeptrust.registry.resolve import (
    Resolution,
    register_known,
    resolve_model,
    resolve_reference,
    resolve_trusted,
)
from deeptrust.registry.store import Store, VersionInfo

register = register_model
resolve = resolve_model

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MODEL_NAME",
    "ArtifactIntegrityError",
    "ModelNotAllowedError",
    "ModelReference",
    "PromotionRefusedError",
    "RegistrationError",
    "RegistryError",
    "RegistryUnavailableError",
    "Resolution",
    "Store",
    "UnknownModelError",
    "VersionInfo",
    "diff_versions",
    "iter_models",
    "parse_reference",
    "promote",
    "record_gate",
    "register",
    "register_known",
    "register_model",
    "resolve",
    "resolve_model",
    "resolve_reference",
    "resolve_trusted",
    "rollback",
    "set_alias",
]
