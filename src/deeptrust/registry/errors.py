"""What can go wrong with the registry, as exceptions the CLI and the service map to clear messages.

They subclass the built-ins that existing callers already catch (``FileNotFoundError`` → 404 / exit 2,
``ValueError`` → 422 / exit 2, ``ConnectionError`` → 503), so every command that names a model reports
registry problems without knowing the registry exists.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of the registry's own errors."""


class UnknownModelError(RegistryError, FileNotFoundError):
    """No registered model, version or alias by that reference (and no model directory by that name)."""


class RegistryUnavailableError(RegistryError, ConnectionError):
    """The tracking server or store cannot be reached, and nothing usable is cached locally."""


class ArtifactIntegrityError(RegistryError, ValueError):
    """A downloaded or cached artifact does not match the sha256 recorded when it was registered."""


class RegistrationError(RegistryError, ValueError):
    """A model directory that cannot be registered (missing files, unreadable card); nothing was written."""


class PromotionRefusedError(RegistryError, ValueError):
    """A version that has not passed the quality gate, promoted without ``--force --reason``."""
