"""``GET /v1/admin/jobs`` and ``GET /v1/admin/jobs/{job_id}`` (admin): a job's state and its log's tail.

Mounted by ``deeptrust.retrain.routes.install``, which puts the service's ``JobStore`` in
``service.extras["jobs"]``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as FastApiPath
from fastapi.concurrency import run_in_threadpool

from deeptrust.jobs.errors import JobNotFoundError
from deeptrust.jobs.store import JobStore
from deeptrust.serve.deps import Admin, ServiceDep
from deeptrust.serve.problems import Problem
from deeptrust.serve.schemas import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/admin/jobs", tags=["jobs"])
JobId = Annotated[int, FastApiPath(ge=1, le=2**62, description="a job's id")]


def job_view(jobs: JobStore, job_id: int, tail_bytes: int) -> dict[str, Any]:
    try:
        job = jobs.get(job_id)
    except JobNotFoundError as exc:
        raise Problem(404, str(exc), type_="unknown-job") from exc
    return job.to_dict() | {"log_tail": jobs.log_tail(job, tail_bytes), "url": f"/v1/admin/jobs/{job.id}"}


@router.get("/{job_id}", responses=PROBLEM_RESPONSES)
async def get_job(
    service: ServiceDep,
    admin: Admin,
    job_id: JobId,
    tail: Annotated[int, Query(ge=0, le=1 << 20, description="bytes of the log's end to include")] = 8192,
) -> dict[str, Any]:
    return await run_in_threadpool(job_view, service.extras["jobs"], job_id, tail)


@router.get("", responses=PROBLEM_RESPONSES)
async def list_jobs(
    service: ServiceDep,
    admin: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    jobs: JobStore = service.extras["jobs"]
    found = await run_in_threadpool(jobs.list_jobs, limit=limit)
    return {"jobs": [job.to_dict() for job in found]}
