"""Job models over HTTP: POST creates and queues, rerun, cancel and logs, all authorized."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from specstar.core import (
    ActionBasedChecker,
    Job,
    JobContext,
    JobManager,
    JobStatus,
    MemoryMessageQueueFactory,
    Resource,
    ResourceManager,
    RootOnly,
)
from specstar.core.permissions import admin_only, any_user
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers


class Mail(msgspec.Struct, kw_only=True):
    to: str
    fail: bool = False


class SendMail(Job[Mail, str]):
    pass


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def handle(job: Resource[SendMail], ctx: JobContext[Mail, str]) -> None:
    if ctx.payload.fail:
        raise ValueError("mailbox full")
    ctx.logger.info("sent to %s", ctx.payload.to)
    ctx.set_artifact(f"queued for {ctx.payload.to}")


def build(**config: Any) -> tuple[TestClient, SpecStar, JobManager[SendMail]]:
    crud = SpecStar(dependency_provider=DependencyProvider(get_user=header_user), **config)
    mgr = crud.add_model(SendMail, job_handler=handle, job_options={"default_max_retries": 0})
    assert isinstance(mgr, JobManager)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return TestClient(app), crud, mgr


def drain(mgr: JobManager[Any]) -> None:
    while mgr.process_next():
        pass


def test_post_creates_and_queues_and_the_job_runs() -> None:
    client, _, mgr = build()
    r = client.post("/send-mail", json={"payload": {"to": "ann@example.com"}})
    assert r.status_code == 201, r.text
    job_id = r.json()["resource_id"]
    assert mgr.message_queue.size() == 1
    assert client.get(f"/send-mail/{job_id}").json()["data"]["status"] == "pending"
    assert client.get(f"/send-mail/{job_id}/logs").status_code == 204
    drain(mgr)
    body = client.get(f"/send-mail/{job_id}").json()["data"]
    assert body["status"] == "completed"
    assert body["artifact"] == "queued for ann@example.com"
    # the queue fields are indexed: jobs are searchable by status
    listed = client.get("/send-mail", params={"qb": 'status == "completed"'})
    assert listed.status_code == 200, listed.text
    assert [i["meta"]["resource_id"] for i in listed.json()] == [job_id]
    logs = client.get(f"/send-mail/{job_id}/logs")
    assert logs.status_code == 200
    assert logs.headers["content-type"].startswith("text/plain")
    assert logs.text.endswith("INFO sent to ann@example.com\n")


def test_a_new_job_must_be_pending() -> None:
    client, _, mgr = build()
    r = client.post("/send-mail", json={"payload": {"to": "x"}, "status": "completed"})
    assert r.status_code == 422
    assert "status" in r.text
    assert mgr.message_queue.size() == 0


def test_rerun_only_from_a_finished_job() -> None:
    client, _, mgr = build()
    job_id = client.post("/send-mail", json={"payload": {"to": "b", "fail": True}}).json()[
        "resource_id"
    ]
    r = client.post(f"/send-mail/{job_id}/rerun")
    assert r.status_code == 409
    assert r.json()["code"] == "job_state"
    drain(mgr)
    failed = client.get(f"/send-mail/{job_id}").json()["data"]
    assert (failed["status"], failed["errmsg"]) == ("failed", "ValueError: mailbox full")
    assert "Traceback" in client.get(f"/send-mail/{job_id}/logs").text
    r = client.post(f"/send-mail/{job_id}/rerun")
    assert r.status_code == 200, r.text
    assert r.headers["ETag"]
    again = client.get(f"/send-mail/{job_id}").json()["data"]
    assert (again["status"], again["errmsg"], again["retries"]) == ("pending", None, 0)
    assert mgr.message_queue.size() == 1


def test_cancel() -> None:
    client, _, mgr = build()
    job_id = client.post("/send-mail", json={"payload": {"to": "c"}}).json()["resource_id"]
    r = client.post(f"/send-mail/{job_id}/cancel")
    assert r.status_code == 200, r.text
    drain(mgr)
    assert client.get(f"/send-mail/{job_id}").json()["data"]["status"] == "cancelled"
    assert client.get(f"/send-mail/{job_id}/logs").status_code == 204  # it never ran
    done = client.post("/send-mail", json={"payload": {"to": "d"}}).json()["resource_id"]
    drain(mgr)
    r = client.post(f"/send-mail/{done}/cancel")
    assert r.status_code == 409
    assert r.json()["code"] == "job_state"
    assert client.post("/send-mail/nope/cancel").status_code == 404


def test_job_routes_go_through_the_permission_checker() -> None:
    client, _, mgr = build(permission_checker=RootOnly("root"))
    root, bob = {"X-User": "root"}, {"X-User": "bob"}
    assert client.post("/send-mail", json={"payload": {"to": "e"}}, headers=bob).status_code == 403
    job_id = client.post("/send-mail", json={"payload": {"to": "e"}}, headers=root).json()[
        "resource_id"
    ]
    drain(mgr)  # workers act for the application, not as a user: the checker does not stop them
    assert mgr.system.get(job_id).data.status is JobStatus.completed
    assert client.get(f"/send-mail/{job_id}/logs", headers=bob).status_code == 403
    assert client.post(f"/send-mail/{job_id}/rerun", headers=bob).status_code == 403
    assert client.post(f"/send-mail/{job_id}/cancel", headers=bob).status_code == 403
    assert client.get(f"/send-mail/{job_id}/logs", headers=root).status_code == 200
    assert client.post(f"/send-mail/{job_id}/rerun", headers=root).status_code == 200


def test_readers_may_read_logs_but_not_rerun() -> None:
    checker = ActionBasedChecker({"read": any_user, "write": admin_only("root")})
    client, _, mgr = build(permission_checker=checker)
    job_id = client.post(
        "/send-mail", json={"payload": {"to": "f"}}, headers={"X-User": "root"}
    ).json()["resource_id"]
    drain(mgr)
    assert client.get(f"/send-mail/{job_id}/logs", headers={"X-User": "eve"}).status_code == 200
    assert client.post(f"/send-mail/{job_id}/rerun", headers={"X-User": "eve"}).status_code == 403


def test_registration_rules() -> None:
    crud = SpecStar(message_queue_factory=MemoryMessageQueueFactory())
    with pytest.raises(TypeError, match="not a Job"):
        crud.add_model(Mail, job_handler=handle)
    with pytest.raises(TypeError, match="registered without a queue"):
        crud.add_model(SendMail, message_queue_factory=None, job_handler=handle)
    plain = crud.add_model(SendMail, name="plain-mail", message_queue_factory=None)
    assert type(plain) is ResourceManager
    app = FastAPI()
    crud.apply(app)
    paths = {getattr(r, "path", "") for r in app.routes}
    assert "/plain-mail/{resource_id}/rerun" not in paths
    jobs = crud.add_model(SendMail, name="mail-job", job_handler=handle)
    assert isinstance(jobs, JobManager)
    assert {"status", "retries", "partition_key", "idempotency_key"} <= {
        f.path for f in jobs.index_spec.fields
    }


def test_openapi_documents_the_job_routes() -> None:
    client, _, _ = build()
    doc = client.get("/openapi.json").json()
    assert "post" in doc["paths"]["/send-mail/{resource_id}/rerun"]
    assert "post" in doc["paths"]["/send-mail/{resource_id}/cancel"]
    logs = doc["paths"]["/send-mail/{resource_id}/logs"]["get"]["responses"]
    assert {"200", "204"} <= set(logs)
