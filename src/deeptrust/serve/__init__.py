"""The HTTP service: ``deeptrust serve`` — FastAPI on uvicorn, ONNX Runtime behind a micro-batcher.

Non-goals: training or torch at serve time; a process manager (run one process per replica behind a
load balancer, share rate limits through Redis).
"""

from deeptrust.serve.app import create_app

__all__ = ["create_app"]
