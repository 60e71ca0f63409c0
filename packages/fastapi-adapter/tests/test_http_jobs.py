"""Job models over HTTP: POST creates and queues, rerun, cancel and logs, all authorized."""

from __future__ import annotations

import time
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


# -- following the log ---------------------------------------------------------------------


class Steps(msgspec.Struct, kw_only=True):
    steps: int


class Stepper(Job[Steps, int]):
    pass


def stepper(job: Resource[Stepper], ctx: JobContext[Steps, int]) -> None:
    for i in range(ctx.payload.steps):
        ctx.logger.info("step %d", i)
        time.sleep(0.05)
    ctx.set_artifact(ctx.payload.steps)


def build_stepper(**config: Any) -> tuple[TestClient, JobManager[Stepper]]:
    crud = SpecStar(dependency_provider=DependencyProvider(get_user=header_user), **config)
    mgr = crud.add_model(
        Stepper,
        job_handler=stepper,
        job_options={"log_flush_seconds": 0.02, "follow_poll_seconds": 0.02},
    )
    assert isinstance(mgr, JobManager)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return TestClient(app), mgr


def test_follow_streams_the_log_until_the_job_is_finished() -> None:
    client, mgr = build_stepper()
    job_id = client.post("/stepper", json={"payload": {"steps": 6}}).json()["resource_id"]
    consumer = mgr.start_consume(block=False)
    try:
        with client.stream("GET", f"/stepper/{job_id}/logs", params={"follow": "true"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain")
            lines = list(r.iter_lines())
    finally:
        consumer.stop(grace=5)
    # the stream ended because the job finished, and it holds every line, in order
    assert mgr.system.get(job_id).data.status is JobStatus.completed
    assert [line.split(" ", 2)[2] for line in lines] == [f"step {i}" for i in range(6)]
    # following a finished job answers its whole log at once
    again = client.get(f"/stepper/{job_id}/logs", params={"follow": "1"})
    assert again.text.splitlines() == lines
    assert client.get(f"/stepper/{job_id}/logs").text.splitlines() == lines


def test_follow_a_cancelled_job_ends() -> None:
    client, _mgr = build_stepper()
    job_id = client.post("/stepper", json={"payload": {"steps": 1}}).json()["resource_id"]
    assert client.post(f"/stepper/{job_id}/cancel").status_code == 200
    r = client.get(f"/stepper/{job_id}/logs", params={"follow": "true"})
    assert (r.status_code, r.text) == (200, "")


def test_follow_parameters_are_checked() -> None:
    client, _mgr = build_stepper()
    job_id = client.post("/stepper", json={"payload": {"steps": 1}}).json()["resource_id"]
    bad = client.get(f"/stepper/{job_id}/logs", params={"follow": "maybe"})
    assert bad.status_code == 422
    assert "follow" in bad.text
    unknown = client.get(f"/stepper/{job_id}/logs", params={"follw": "true"})
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "unknown_parameter"
    assert "follw" in unknown.text
    assert client.get("/stepper/nope/logs", params={"follow": "true"}).status_code == 404


def test_follow_goes_through_the_permission_checker() -> None:
    client, mgr = build_stepper(permission_checker=RootOnly("root"))
    root = {"X-User": "root"}
    job_id = client.post("/stepper", json={"payload": {"steps": 1}}, headers=root).json()[
        "resource_id"
    ]
    drain(mgr)
    url = f"/stepper/{job_id}/logs"
    denied = client.get(url, params={"follow": "true"}, headers={"X-User": "bob"})
    assert denied.status_code == 403
    assert "step 0" in client.get(url, params={"follow": "true"}, headers=root).text


# -- what an ordinary write may change -----------------------------------------------------


def test_put_and_patch_may_not_rewrite_the_queue_fields() -> None:
    client, _, mgr = build()
    job_id = client.post("/send-mail", json={"payload": {"to": "g"}}).json()["resource_id"]
    r = client.patch(f"/send-mail/{job_id}", json={"status": "completed", "retries": 2})
    assert r.status_code == 422, r.text
    assert {e["loc"] for e in r.json()["errors"]} >= {"status", "retries"}
    r = client.patch(f"/send-mail/{job_id}", json={"partition_key": "p"})
    assert r.status_code == 422
    assert "partition_key" in r.text
    # the payload may change while the job waits
    r = client.patch(f"/send-mail/{job_id}", json={"payload": {"to": "h"}})
    assert r.status_code == 200, r.text
    current = client.get(f"/send-mail/{job_id}").json()["data"]
    current["payload"]["to"] = "i"
    assert client.put(f"/send-mail/{job_id}", json=current).status_code == 200
    drain(mgr)
    done = client.get(f"/send-mail/{job_id}").json()["data"]
    assert (done["status"], done["artifact"]) == ("completed", "queued for i")
    # a PUT of the document as read before the job ran would move it back to pending
    r = client.put(f"/send-mail/{job_id}", json=current)
    assert r.status_code == 422
    assert {e["loc"] for e in r.json()["errors"]} == {"status", "artifact", "last_heartbeat_at"}
    assert client.get(f"/send-mail/{job_id}").json()["data"]["status"] == "completed"


def test_a_running_job_may_not_be_edited() -> None:
    client, mgr = build_stepper()
    job_id = client.post("/stepper", json={"payload": {"steps": 1}}).json()["resource_id"]
    job = mgr.system.get(job_id)
    running = msgspec.structs.replace(job.data, status=JobStatus.processing)
    mgr.system.update(job_id, running)
    r = client.patch(f"/stepper/{job_id}", json={"payload": {"steps": 2}})
    assert r.status_code == 409
    assert r.json()["code"] == "job_state"


# -- idempotency ---------------------------------------------------------------------------


def test_an_idempotency_key_used_again_answers_the_existing_job() -> None:
    client, _, mgr = build()
    body = {"payload": {"to": "j"}, "idempotency_key": "order-7"}
    first = client.post("/send-mail", json=body)
    assert first.status_code == 201
    again = client.post("/send-mail", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["resource_id"] == first.json()["resource_id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert mgr.message_queue.size() == 1  # queued once
    drain(mgr)
    later = client.post("/send-mail", json=body)  # the job completed meanwhile
    assert later.status_code == 200
    assert later.headers["ETag"] != first.headers["ETag"]
    assert later.headers["ETag"] == client.get(first.headers["Location"]).headers["ETag"]
    other = client.post("/send-mail", json={**body, "payload": {"to": "k"}})
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    assert "order-7" in other.json()["detail"]
    assert client.get("/send-mail/count").json() == {"count": 1}
