"""One settings object for the whole package, read from ``DEEPTRUST_*`` environment variables.

Nothing else in deeptrust reads ``os.environ``: take a ``Settings`` (or call ``get_settings()``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The repository's own models/ folder, where the shipped models live next to the source tree.
BUNDLED_MODELS = Path(__file__).resolve().parents[2] / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEEPTRUST_", env_file=None, extra="ignore")

    # Working directory for imported datasets, extracted archives, decoded-image caches and runs.
    home: Path = Field(default=Path(".deeptrust"))
    # Where `deeptrust models list` and name lookups search, first match wins.
    model_paths: list[Path] = Field(default_factory=lambda: [Path(".deeptrust/models"), BUNDLED_MODELS])
    # Largest image accepted by the decoder, in pixels (decompression-bomb guard).
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    # ONNX Runtime threads per session; 0 lets ONNX Runtime choose (one per core).
    onnx_threads: int = Field(default=0, ge=0)
    # MLflow tracking URI (MLflow's own MLFLOW_TRACKING_URI is honoured too); empty: SQLite under `home`.
    mlflow_tracking_uri: str = Field(
        default="",
        validation_alias=AliasChoices("DEEPTRUST_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    )
    # Seconds a model registry (tracking server) has to answer before models come from the local cache.
    registry_timeout_s: float = Field(default=2.0, gt=0)

    # -- serving (`deeptrust serve`) --
    model: str = "photos"  # name, model directory or .onnx file served by default
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_batch_size: int = Field(default=8, ge=1)  # images per model call, formed across requests
    max_wait_ms: float = Field(default=2.0, ge=0)  # how long the first image of a batch waits for company
    max_queue: int = Field(default=32, ge=1)  # images waiting for the model; beyond it 503 + Retry-After
    # One model call at a time on 2 ONNX Runtime threads that sleep rather than spin when idle (they share
    # the cores with decoding): the best p95 and throughput of the variants measured by benchmarks/serve.py.
    runner_threads: int = Field(default=1, ge=1)  # concurrent model calls
    intra_op_threads: int = Field(default=2, ge=1)  # ONNX Runtime threads inside one model call
    onnx_spin: bool = False  # let idle ONNX Runtime threads spin (burns CPU that decoding needs)
    decode_threads: int = Field(default=2, ge=1)  # threads decoding and preprocessing uploads
    # Worker processes sharing the port (`deeptrust serve --workers N`); with N > 1 each gets
    # cores // N ONNX Runtime and decode threads unless those are set.
    workers: int = Field(default=1, ge=1)
    runtime_dir: Path | None = None  # state shared by one server's workers; set by the supervisor
    max_body_bytes: int = Field(default=20 * 1024 * 1024, gt=0)  # per request, enforced while streaming
    max_batch_images: int = Field(default=32, ge=1)  # images per /v1/predict/batch request
    # Auth: "auto" requires credentials unless the server listens on loopback only.
    auth: str = Field(default="auto", pattern="^(auto|required|off)$")
    # Anonymous loopback callers are users; true gives them every role (a single-user laptop only).
    local_admin: bool = False
    # Host names the server answers to (comma-separated; "*" any, "*.example.com" a domain); empty:
    # localhost, 127.0.0.1, ::1 and `host` itself when it names one address. Other Hosts get 400.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Directories beyond `model_paths` from which POST /v1/models/reload may load a model by path.
    reload_allow_dirs: list[Path] = Field(default_factory=list)
    # /docs and /redoc (Swagger UI and ReDoc load their scripts from a CDN): None = loopback callers only.
    docs: bool | None = None
    jwt_secret: str = ""  # HS256 shared secret, at least 32 bytes
    jwt_public_key: str = ""  # RS256 public key (PEM text or a path to a PEM file)
    jwt_audience: str = ""  # checked when set
    jwt_issuer: str = ""  # checked when set
    # Rate limits per API key or token subject: a token bucket of `rate_limit_burst` refilled at
    # `rate_limit_per_s`; 0 turns rate limiting off. Shared across replicas through Redis when set.
    rate_limit_per_s: float = Field(default=0.0, ge=0)
    rate_limit_burst: int = Field(default=0, ge=0)
    redis_url: str = ""  # e.g. redis://127.0.0.1:6379/0; empty: in-memory buckets (one process)
    # Redis unreachable: refuse with 503 (fail closed, the default) or serve without limits (fail open).
    rate_limit_fail_open: bool = False
    log_level: str = "info"
    # -- evidence beyond the pixels (deeptrust.evidence): C2PA, IPTC/XMP, generator metadata --
    evidence: bool = True  # read and fuse evidence for every checked or scanned image
    # Trust anchors for C2PA signers: a PEM bundle (a path, or the PEM text). Empty: no signer is Trusted.
    c2pa_trust_anchors: str = ""
    # -- feedback and review (the web page) --
    database_url: str = ""  # SQLAlchemy URL; empty: SQLite file under `home`
    feedback_retention_days: int = Field(default=365, ge=0)  # images kept this long; 0 keeps forever
    review_band: float = Field(default=0.1, ge=0, le=1)  # |p_ai - threshold| below this → review queue
    feedback_purge_interval_s: float = Field(default=3600.0, gt=0)  # the server purges this often
    # Items (flags and borderline images) one caller (key or token subject) may add per 24 h; 0: no cap.
    feedback_max_per_caller_per_day: int = Field(default=1000, ge=0)
    # Borderline images waiting to be written (each up to max_body_bytes); beyond either bound they are
    # dropped and counted in deeptrust_review_dropped_total{reason="queue_full"}.
    review_queue_max_items: int = Field(default=16, ge=1)
    review_queue_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # -- drift monitoring (deeptrust.monitor): rolling windows tested against the card's reference profile --
    drift_enabled: bool = True
    drift_window: int = Field(default=500, ge=2)  # observations per model version in the window
    drift_min_window: int = Field(default=100, ge=2)  # no test before the window holds this many
    drift_interval_s: float = Field(default=10.0, gt=0)  # the background tester wakes this often
    drift_every: int = Field(default=100, ge=1)  # ... or as soon as a window gained this many observations
    drift_alpha: float = Field(default=1e-6, gt=0, lt=1)  # per-test level of every signal's threshold
    drift_permutations: int = Field(default=2000, ge=20)  # permutations per threshold (once per window size)
    # -- evidence: invisible watermarks and known-image lists (docs/evidence-reliability.md) --
    watermark_decode: bool = True  # look for Stable Diffusion's invisible watermark in every image
    watermark_max_pixels: int = Field(default=4_194_304, gt=0)  # larger images are not decoded (cost)
    hash_lists: bool = True  # PDQ-hash every image and look it up in the hash lists
    hash_max_distance: int = Field(default=31, ge=0, le=256)  # PDQ bits that may differ in a match
    hash_refresh_s: float = Field(default=10.0, gt=0)  # how often a server checks the lists for changes
    # -- rollout: a challenger in shadow or canary mode (deeptrust.rollout, `deeptrust rollout`) --
    # CPU the shadow lane's process may spend, in cores (it runs one thread at SCHED_IDLE: only CPU that no
    # other thread wants; 1.0 lets it use all of that, so share 1.0 scores nearly every request).
    rollout_shadow_cpu_share: float = Field(default=1.0, gt=0, le=1)
    rollout_shadow_queue: int = Field(default=16, ge=1)  # images waiting for the shadow lane; more: skipped
    # The lane starts an image only while this worker has none in flight (deeptrust.rollout.gate).
    rollout_shadow_yield: bool = True
    # Automatic abort of a canary: judged over the window once min_requests canary answers are in it.
    rollout_window_s: float = Field(default=60.0, gt=0)
    rollout_min_requests: int = Field(default=20, ge=1)
    rollout_max_error_rate: float = Field(default=0.01, ge=0, le=1)
    rollout_max_p95_ms: float = Field(default=150.0, ge=0)  # the p95 SLO; 0: off
    rollout_max_disagreement: float = Field(default=0.2, ge=0, le=1)  # labels unlike the champion's
    ai_ratio_window_s: float = Field(default=300.0, gt=0)  # deeptrust_predicted_ai_ratio's window
    quality_window_days: float = Field(default=30.0, gt=0)  # reviewed feedback counted in live quality
    quality_interval_s: float = Field(default=60.0, gt=0)  # how often live quality is recomputed
    # -- retraining and background jobs (`deeptrust retrain`, POST /v1/admin/retrain) --
    retrain_config_dir: Path = Path("configs")  # <dir>/<model>.yaml: the recipe a retrain of MODEL uses
    jobs_worker: bool = True  # run queued jobs in this server process (one at a time in the database)
    jobs_poll_s: float = Field(default=2.0, gt=0)  # how often an idle worker looks for queued jobs
    jobs_heartbeat_s: float = Field(default=5.0, gt=0)  # a running job's worker says it is alive this often
    # A running job whose heartbeat is older than this is failed (its worker died, on any machine).
    jobs_stale_s: float = Field(default=120.0, gt=0)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.split(",") if h.strip()]
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_jwt_secret(cls, value: str) -> str:
        if value and len(value.encode()) < 32:
            raise ValueError(
                f"DEEPTRUST_JWT_SECRET is {len(value.encode())} bytes; HS256 needs at least 32 (RFC 7518 "
                "§3.2): make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @property
    def keys_file(self) -> Path:
        return self.home / "api_keys.json"

    @property
    def feedback_dir(self) -> Path:
        return self.home / "feedback"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'deeptrust.db').resolve()}"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def registry_cache_dir(self) -> Path:
        return self.home / "registry-cache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
