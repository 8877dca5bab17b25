"""Wire schemas (what clients see), kept apart from internal types. Used for OpenAPI and validation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ModelRef(BaseModel):
    name: str
    version: str


class ImageFacts(BaseModel):
    sha256: str
    width: int
    height: int
    format: str
    bytes: int


class EvidenceItem(BaseModel):
    kind: str = Field(description="c2pa, iptc, generator_metadata, exif, metadata, watermark, hash_match…")
    signal: Literal["ai", "real", "edited", "tampered", "none"]
    strength: Literal["conclusive", "strong", "moderate", "weak"]
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)


class VerdictOut(BaseModel):
    label: Literal["ai", "real", "tampered"]
    basis: Literal["evidence", "pixels"]
    rule: str = Field(description="the fusion rule that decided (README: Evidence)")
    reason: str


class PredictResponse(BaseModel):
    request_id: str
    label: str = Field(description="REAL unless p_ai reaches the threshold; then the likeliest other class")
    p_ai: float = Field(ge=0, le=1, description="Probability that the image is not a real photo")
    threshold: float
    scores: dict[str, float]
    model: ModelRef
    image: ImageFacts
    timings_ms: dict[str, float]
    evidence: list[EvidenceItem] = Field(default_factory=list, description="evidence beyond the pixels")
    verdict: VerdictOut | None = Field(default=None, description="the pixel model fused with the evidence")
    pdq: str | None = Field(default=None, description="the image's PDQ perceptual hash, 64 hex digits")


class ExplainResponse(PredictResponse):
    heatmap_png: str = Field(description="base64 RGBA PNG, red = evidence of AI, blue = evidence of real")
    overlay_png: str = Field(description="base64 PNG: the heatmap over the image")


class ProblemDetail(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None


class BatchItem(BaseModel):
    filename: str
    ok: bool
    result: PredictResponse | None = None
    error: ProblemDetail | None = None


class BatchResponse(BaseModel):
    request_id: str
    n: int
    errors: int
    results: list[BatchItem]


class ReloadRequest(BaseModel):
    model: str | None = Field(
        default=None, description="a model name or path; default: reload the current one"
    )


class ModelsResponse(BaseModel):
    default: str
    loaded: ModelRef
    models: list[dict]


PROBLEM_RESPONSES: dict[int | str, dict] = {
    status: {"model": ProblemDetail, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 413, 415, 422, 429, 503)
}
