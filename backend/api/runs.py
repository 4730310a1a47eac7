"""Match runs: start one (answered at once with the queued run), follow its progress, cancel it, read its
proposals. The matcher runs in a worker thread after the request has committed."""

from fastapi import APIRouter, BackgroundTasks

from backend.api.deps import CurrentActor, SessionDep
from backend.api.params import Id, PagingDep
from backend.schemas import Page
from backend.schemas_deals import ProposalPublic, ProposalStatus, RunCreate, RunKind, RunPublic, RunStatus
from backend.services import deals as deals_svc
from backend.services import runs as svc

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post("", response_model=RunPublic, status_code=202)
def start_run(session: SessionDep, actor: CurrentActor, run_in: RunCreate, background: BackgroundTasks) -> RunPublic:
    run = svc.start_run(session=session, actor=actor, run_in=run_in)
    # background tasks run after the response, so after the request's transaction has committed the run
    background.add_task(svc.submit, run.id or 0)
    return svc.run_public(session, actor, run)


@router.get("", response_model=Page[RunPublic])
def list_runs(session: SessionDep, actor: CurrentActor, paging: PagingDep, kind: RunKind | None = None,
              status: RunStatus | None = None) -> dict:
    data, count = svc.list_runs(session=session, actor=actor, kind=kind, status=status, skip=paging.skip,
                                limit=paging.limit)
    return {"data": data, "count": count}


@router.get("/{run_id}", response_model=RunPublic)
def get_run(session: SessionDep, actor: CurrentActor, run_id: Id) -> RunPublic:
    return svc.get_run(session=session, actor=actor, run_id=run_id)


@router.post("/{run_id}/cancel", response_model=RunPublic)
def cancel_run(session: SessionDep, actor: CurrentActor, run_id: Id) -> RunPublic:
    run = svc.cancel_run(session=session, actor=actor, run_id=run_id)
    return svc.run_public(session, actor, run)


@router.get("/{run_id}/proposals", response_model=Page[ProposalPublic])
def run_proposals(session: SessionDep, actor: CurrentActor, run_id: Id, paging: PagingDep,
                  status: ProposalStatus | None = None) -> dict:
    svc.get_run(session=session, actor=actor, run_id=run_id)
    data, count = deals_svc.list_proposals(session=session, actor=actor, run_id=run_id, status=status,
                                           **paging.model_dump())
    return {"data": data, "count": count}
