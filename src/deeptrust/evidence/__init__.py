"""Evidence beyond the pixels: provenance manifests, metadata, watermarks and known-image matches."""

from deeptrust.evidence.types import Evidence, Signal, Strength

__all__ = ["Evidence", "Signal", "Strength"]
