"""Validation of what callers hand the store; every failure is a FeedbackError saying what was expected."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TypeVar

from deeptrust.feedback.errors import FeedbackError
from deeptrust.feedback.models import LABEL_LENGTH

# A final label becomes a folder name of the export, which the dataset importer reads back:
# no separators, no leading dot, and not a split name (train/val/test would be read as splits).
_LABEL = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{LABEL_LENGTH - 1}}}$")
_SPLIT_NAMES = frozenset({"train", "val", "valid", "validation", "test"})
MAX_COMMENT = 2000
E = TypeVar("E", bound=StrEnum)


def check_label(
    label: object,
    what: str,
    class_names: Sequence[str] | None = None,
    *,
    error: type[FeedbackError] = FeedbackError,
) -> str:
    if not isinstance(label, str) or not label:
        raise error(f"{what} is required, got {label!r}")
    if class_names is not None and label not in class_names:
        raise error(f"{what} must be one of {', '.join(class_names)}, got {label!r}")
    if not _LABEL.match(label) or label.lower() in _SPLIT_NAMES:
        raise error(
            f"{what} {label!r} is not usable as a class folder: use 1-{LABEL_LENGTH} letters, digits, "
            "'_', '.' or '-', starting with a letter or digit, and not train/val/test"
        )
    return label


def check_probability(value: object, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FeedbackError(f"{what} must be a number in [0, 1], got {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise FeedbackError(f"{what} must be in [0, 1], got {value!r}")
    return number


def check_text(value: str | None, what: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise FeedbackError(f"{what} is {len(value):,} characters long; at most {limit:,} are kept")
    return value


def check_required(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FeedbackError(f"{what} is required, got {value!r}")
    return check_text(value.strip(), what, limit) or ""


def check_enum(cls: type[E], value: object, what: str) -> E:
    try:
        return cls(str(value))
    except ValueError:
        choices = ", ".join(member.value for member in cls)
        raise FeedbackError(f"{what} must be one of {choices}, got {value!r}") from None


def check_enums(cls: type[E], values: Iterable[object], what: str) -> list[E]:
    return [check_enum(cls, value, what) for value in values]
