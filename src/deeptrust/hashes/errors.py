"""Errors of the hash lists, each saying what was expected and what was found."""

from __future__ import annotations


class HashListError(ValueError):
    """Bad input to the hash lists (a hash, label, list name or note)."""


class HashImportError(HashListError):
    """A CSV that cannot be imported; nothing of it was written. ``problems``: (line number, message)."""

    def __init__(self, source: str, problems: list[tuple[int, str]], *, shown: int = 20) -> None:
        self.problems = problems
        lines = [f"line {n}: {msg}" for n, msg in problems[:shown]]
        more = f"\n… and {len(problems) - shown} more" if len(problems) > shown else ""
        super().__init__(
            f"{source}: {len(problems)} bad row(s), nothing imported "
            f"(expected hash,label,note with a 64-hex-digit PDQ hash and label ai or real):\n"
            + "\n".join(lines)
            + more
        )
