"""Model references, in MLflow's URI habit: ``photos`` (its champion), ``photos@challenger``, ``photos/3``.

``parse_reference`` only reads the string; it never touches the registry or the disk. Paths (a model
directory, an ``.onnx`` file) are told apart by the resolver, which looks at the disk first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
ALIAS = r"[A-Za-z][A-Za-z0-9_-]*"
REFERENCE = re.compile(rf"(?P<name>{NAME})(?:@(?P<alias>{ALIAS})|/(?P<version>[0-9]+))?")
DEFAULT_ALIAS = "champion"


@dataclass(frozen=True)
class ModelReference:
    """A registry reference: a name plus an alias or a version (a bare name means its champion)."""

    name: str
    alias: str | None = None
    version: int | None = None

    @property
    def effective_alias(self) -> str | None:
        """The alias to look up: the one given, or ``champion`` for a bare name."""
        if self.version is not None:
            return None
        return self.alias or DEFAULT_ALIAS

    @property
    def bare(self) -> bool:
        return self.alias is None and self.version is None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return f"{self.name}@{self.alias}" if self.alias else self.name


def parse_reference(text: str) -> ModelReference | None:
    """``photos`` / ``photos@alias`` / ``photos/3`` → a reference; anything else (a path) → None."""
    match = REFERENCE.fullmatch(text.strip())
    if match is None or match["name"] in (".", ".."):
        return None
    version = int(match["version"]) if match["version"] is not None else None
    if version is not None and version < 1:
        return None
    return ModelReference(match["name"], alias=match["alias"], version=version)
