"""The challenger on the request path: a ``ModelRuntime`` that answers its share and never fails a request.

While a canary runs, the service decodes uploads with ``CanaryRuntime.decode``: in the decode thread it
hashes the bytes and keeps the image (sticky: the same sha256 always goes the same way) when
``sha256 / 2**256 < share``, else hands it to the champion. Whatever the challenger fails to decode or
score (anything but a bad image, which is the caller's 4xx under either model) is counted as a canary error
and scored by the champion instead, so a broken canary costs latency, not a failed request, and its errors
reach the abort policy. Its answers are ``CanaryAnswer`` dicts, so the after-predict hook knows who answered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from deeptrust.imageio import ImageError
from deeptrust.serve.runtime import Decoded, Inspector, ModelRuntime
from deeptrust.settings import Settings

log = logging.getLogger("deeptrust.rollout")


class CanaryAnswer(dict[str, Any]):
    """A result the canary answered (a plain dict on the wire)."""


@dataclass
class CanaryDecoded(Decoded):
    data: bytes = b""  # kept until scored, to fall back to the champion


def sticky_fraction(data: bytes) -> float:
    """The image's place in [0, 1): its sha256 read as a number, so routing is sticky by content."""
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") / 2**64


class CanaryRuntime(ModelRuntime):
    def __init__(
        self,
        reference: str,
        settings: Settings,
        *,
        share: float,
        champion: Callable[[], ModelRuntime],
        on_outcome: Callable[[bool], None],
    ):
        super().__init__(reference, settings)
        self.share = share
        self.champion = champion  # the holder's current runtime, read at each fallback
        self.on_outcome = on_outcome  # True: the canary scored an image; False: it failed on one

    def decode(self, data: bytes, *, keep_image: bool = False, inspect: Inspector | None = None) -> Decoded:
        if sticky_fraction(data) >= self.share:
            return self.champion().decode(data, keep_image=keep_image, inspect=inspect)
        try:
            decoded = super().decode(data, keep_image=keep_image, inspect=inspect)
        except ImageError:
            raise  # a bad upload is the caller's error under any model
        except Exception:
            log.exception(
                "canary failed to decode an image; the champion answers", extra={"model": self.info}
            )
            self.on_outcome(False)
            return self.champion().decode(data, keep_image=keep_image, inspect=inspect)
        fields = {f.name: getattr(decoded, f.name) for f in dataclasses.fields(Decoded)}
        return CanaryDecoded(**fields, data=data)

    def predict(self, items: list[Decoded]) -> list[np.ndarray]:
        try:
            probs = super().predict(items)
        except Exception:
            log.exception("canary failed to score a batch; the champion answers", extra={"model": self.info})
            for _ in items:
                self.on_outcome(False)
            return self._fall_back(items)
        for _ in items:
            self.on_outcome(True)
        return probs

    def _fall_back(self, items: list[Decoded]) -> list[np.ndarray]:
        champion = self.champion()
        again = [champion.decode(it.data if isinstance(it, CanaryDecoded) else b"") for it in items]
        probs = champion.predict(again)
        for item, redone in zip(items, again, strict=True):
            item.runtime, item.crops = champion, redone.crops  # the route formats the champion's answer
        return probs

    def result(self, probs: np.ndarray) -> dict[str, Any]:
        return CanaryAnswer(super().result(probs))
