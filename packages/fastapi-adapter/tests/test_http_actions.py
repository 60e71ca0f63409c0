"""Custom actions over HTTP: the reference's examples (sync, job with a real worker,
background), compare-and-swap, permissions, access scopes, problems and OpenAPI."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pydantic
import pytest
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Query, UploadFile
from fastapi.testclient import TestClient

from specstar.core import (
    ActionBasedChecker,
    ConflictError,
    JobManager,
    JobStatus,
    RevisionStatus,
    WorkerPool,
)
from specstar.core.permissions import any_user, owner
from specstar.fastapi import DependencyProvider, SpecStar


class Character(msgspec.Struct, kw_only=True):
    name: str
    level: int = 1


class Article(msgspec.Struct, kw_only=True):
    content: str


class LevelUpInput(msgspec.Struct):
    levels: int = 1


class ImportFromUrl(msgspec.Struct):
    url: str


class GenerateRequest(msgspec.Struct):
    prompt: str


class Rename(pydantic.BaseModel):
    name: str


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def max_level(data: Character) -> None:
    if data.level > 100:
        raise ValueError("level may not exceed 100")


def register(crud: SpecStar) -> None:
    """The reference's five examples, and a few more."""

    async def fetch_and_parse(url: str) -> str:
        return f"parsed {url}"

    @crud.create_action("article", label="Import from URL")
    async def import_from_url(body: ImportFromUrl = Body(...)) -> Article:  # noqa: B008
        return Article(content=await fetch_and_parse(body.url))

    @crud.create_action("article", async_mode="job", label="Generate")
    def generate_article(payload: Annotated[GenerateRequest, Body()]) -> Article:
        return Article(content=f"generated: {payload.prompt}")

    @crud.update_action("character", label="Level Up")
    def level_up(existing: Character, body: LevelUpInput = Body(...)) -> Character:  # noqa: B008
        return Character(name=existing.name, level=existing.level + body.levels)

    @crud.update_action("character", label="Train", async_mode="job")
    def train(existing: Character, body: Annotated[LevelUpInput, Body()]) -> Character:
        return Character(name=existing.name, level=existing.level + body.levels)

    @crud.update_action("character", label="Background Heal", async_mode="background")
    def bg_heal(existing: Character) -> Character:
        return Character(name=existing.name, level=existing.level + 1)

    @crud.update_action("character", path="safe-level-up", retry_on_conflict=200)
    def safe_level_up(existing: Character) -> Character:
        return Character(name=existing.name, level=existing.level + 1)

    @crud.update_action("character")
    def inspect_only(existing: Character, info: Any, meta: Any) -> None:
        assert info.resource_id == meta.resource_id

    @crud.update_action("character")
    def rename(existing: Character, body: Rename) -> Character:
        return Character(name=body.name, level=existing.level)

    @crud.update_action("character", mode="modify")
    def polish(existing: Character) -> Character:
        return Character(name=existing.name + "!", level=existing.level)

    @crud.update_action("character")
    def refuse(existing: Character) -> Character:
        raise ConflictError("the character is resting")

    @crud.update_action("character")
    def teapot(existing: Character) -> Character:
        raise HTTPException(status_code=418, detail="short and stout")

    @crud.create_action("article")
    async def upload(file: UploadFile) -> Article:
        return Article(content=(await file.read()).decode())

    @crud.create_action("article", async_mode="job")
    def upload_later(file: UploadFile, note: str = Query("")) -> Article:
        return Article(content=file.file.read().decode() + note)


def build(**config: Any) -> tuple[TestClient, SpecStar]:
    crud = SpecStar(dependency_provider=DependencyProvider(get_user=header_user), **config)
    register(crud)  # before add_model: the decorators are lazy
    crud.add_model(Character, validator=max_level, indexed_fields=["level"])
    crud.add_model(Article)
    app = FastAPI()
    crud.apply(app)
    return TestClient(app), crud


@pytest.fixture
def client() -> Iterator[tuple[TestClient, SpecStar]]:
    return build()


def new_character(c: TestClient, level: int = 1, user: str = "alice") -> str:
    r = c.post("/character", json={"name": "hero", "level": level}, headers={"x-user": user})
    assert r.status_code == 201, r.text
    return str(r.json()["resource_id"])


def level_of(c: TestClient, rid: str) -> int:
    return int(c.get(f"/character/{rid}").json()["data"]["level"])


def run_jobs(crud: SpecStar, job_ids: list[tuple[str, str]]) -> None:
    """Run a real worker pool until every job is finished."""
    pool = WorkerPool(crud, concurrency=1, poll_seconds=0.02)
    pool.start()
    try:
        deadline = time.monotonic() + 30
        for name, jid in job_ids:
            manager = crud.get_resource_manager(name)
            while manager.get(jid).data.status in (JobStatus.pending, JobStatus.processing):
                assert time.monotonic() < deadline, "the worker did not finish the job"
                time.sleep(0.02)
    finally:
        pool.stop()


# == the reference's examples ====================================================================


def test_import_from_url_creates_the_returned_article(client: Any) -> None:
    c, _crud = client
    r = c.post("/article/import-from-url", json={"url": "https://example.org/a"})
    assert r.status_code == 201, r.text
    info = r.json()
    assert r.headers["ETag"] == f'"{info["revision_id"]}"'
    assert r.headers["Location"].endswith(f"/article/{info['resource_id']}")
    got = c.get(f"/article/{info['resource_id']}").json()["data"]
    assert got == {"content": "parsed https://example.org/a"}


def test_generate_runs_as_a_job_in_a_real_worker(client: Any) -> None:
    c, crud = client
    r = c.post("/article/generate-article", json={"prompt": "cats"}, headers={"x-user": "ann"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["job_resource_name"] == "article-generate-article-job"
    assert body["redirect_url"] == f"/article-generate-article-job/{body['job_resource_id']}"
    assert r.headers["Location"].endswith(body["redirect_url"])
    job = c.get(body["redirect_url"]).json()["data"]
    assert job["status"] == "pending"
    assert job["payload"] == {"payload": {"prompt": "cats"}}
    run_jobs(crud, [(body["job_resource_name"], body["job_resource_id"])])
    job = c.get(body["redirect_url"]).json()
    assert job["data"]["status"] == "completed", job
    artifact = job["data"]["artifact"]
    article = c.get(f"/article/{artifact['resource_id']}").json()
    assert article["data"] == {"content": "generated: cats"}
    assert article["info"]["revision_id"] == artifact["revision_id"]
    assert article["info"]["created_by"] == "ann"  # the job's creator, not the worker


def test_level_up_updates_with_the_returned_character(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/level-up", json={"levels": 3})
    assert r.status_code == 200, r.text
    assert r.json()["parent_revision_id"] == f"{rid}:1"
    assert r.headers["ETag"] == f'"{rid}:2"'
    assert level_of(c, rid) == 4


def test_train_runs_as_a_job_and_stores_the_revision_as_artifact(client: Any) -> None:
    c, crud = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/train", json={"levels": 5}, headers={"x-user": "alice"})
    assert r.status_code == 202, r.text
    body = r.json()
    run_jobs(crud, [(body["job_resource_name"], body["job_resource_id"])])
    job = c.get(body["redirect_url"]).json()["data"]
    assert job["status"] == "completed", job
    assert job["artifact"]["revision_id"] == f"{rid}:2"
    assert level_of(c, rid) == 6


def test_background_heal_answers_202_and_writes_after_the_response(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/bg-heal")
    assert r.status_code == 202, r.text
    assert set(r.json()) == {"message"}
    assert level_of(c, rid) == 2  # the test client runs background tasks before returning


# == writes, compare-and-swap ====================================================================


def test_none_writes_nothing(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/inspect-only")
    assert (r.status_code, r.json()) == (200, None)
    assert c.get(f"/character/{rid}").json()["info"]["revision_id"] == f"{rid}:1"


def test_if_match_is_honoured(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    stale = c.post(f"/character/{rid}/level-up", json={}, headers={"If-Match": f'"{rid}:9"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    ok = c.post(f"/character/{rid}/level-up", json={}, headers={"If-Match": f'"{rid}:1"'})
    assert ok.status_code == 200
    again = c.post(f"/character/{rid}/train", json={}, headers={"If-Match": f'"{rid}:1"'})
    assert again.status_code == 412  # a job is refused at once, not left to fail
    assert level_of(c, rid) == 2


def _race(c: TestClient, path: str, n: int = 50) -> list[int]:
    statuses: list[int] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait()
        statuses.append(c.post(path, json={}).status_code)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_50_concurrent_level_ups_lose_nothing(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    statuses = _race(c, f"/character/{rid}/level-up")
    won = statuses.count(200)
    assert won + statuses.count(409) == 50, statuses
    assert level_of(c, rid) == 1 + won  # every 200 counted, every loser told


def test_50_concurrent_repeatable_level_ups_all_count(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    statuses = _race(c, f"/character/{rid}/safe-level-up")
    assert statuses == [200] * 50
    assert level_of(c, rid) == 51


def test_a_concurrent_change_is_a_409_problem(client: Any) -> None:
    c, crud = client
    rid = new_character(c)
    manager = crud.get_resource_manager("character")
    real_get = manager.get

    def get_then_race(*args: Any, **kwargs: Any) -> Any:
        current = real_get(*args, **kwargs)
        manager.get = real_get  # type: ignore[method-assign]
        manager.update(rid, Character(name="other", level=7))
        return current

    manager.get = get_then_race  # type: ignore[method-assign]
    r = c.post(f"/character/{rid}/level-up", json={"levels": 1})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "concurrent_change"
    assert level_of(c, rid) == 7  # the other write stands, nothing merged silently


def test_modify_mode_edits_a_draft_in_place_and_refuses_a_stable_revision() -> None:
    c, crud = build()
    rid = new_character(c)
    assert c.post(f"/character/{rid}/polish").status_code == 409  # stable: revision_not_draft
    draft = c.post("/character?status=draft", json={"name": "d"}).json()["resource_id"]
    r = c.post(f"/character/{draft}/polish")
    assert r.status_code == 200, r.text
    assert r.json()["revision_id"] == f"{draft}:1"
    assert c.get(f"/character/{draft}").json()["data"]["name"] == "d!"
    assert crud.get_resource_manager("character").get(draft).info.status is RevisionStatus.draft


# == problems ====================================================================================


def test_a_validation_error_in_the_returned_object_is_a_422(client: Any) -> None:
    c, _ = client
    rid = new_character(c, level=99)
    r = c.post(f"/character/{rid}/level-up", json={"levels": 5})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "100" in r.text
    assert level_of(c, rid) == 99


def test_invalid_input_missing_and_deleted_targets_are_problems(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    assert c.post(f"/character/{rid}/level-up", json={"levels": "x"}).status_code == 422
    assert c.post(f"/character/{rid}/level-up", json={"levelz": 1}).status_code == 422
    assert c.post(f"/character/{rid}/level-up", params={"x": 1}, json={}).status_code == 400
    assert c.post("/character/character:nope/level-up", json={}).status_code == 404
    assert c.delete(f"/character/{rid}").status_code == 200
    gone = c.post(f"/character/{rid}/level-up", json={})
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"


def test_errors_raised_by_handlers_keep_their_status(client: Any) -> None:
    c, _ = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/refuse")
    assert (r.status_code, r.json()["code"]) == (409, "conflict")
    r = c.post(f"/character/{rid}/teapot")
    assert r.status_code == 418
    assert r.headers["content-type"] == "application/problem+json"


def test_pydantic_bodies_and_uploads(client: Any) -> None:
    c, crud = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/rename", json={"name": "zed"})
    assert r.status_code == 200, r.text
    assert c.get(f"/character/{rid}").json()["data"]["name"] == "zed"
    assert c.post(f"/character/{rid}/rename", json={}).status_code == 422
    r = c.post("/article/upload", files={"file": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 201, r.text
    assert c.get(f"/article/{r.json()['resource_id']}").json()["data"]["content"] == "hello"
    r = c.post("/article/upload-later?note=!", files={"file": ("b.txt", b"later", "text/plain")})
    assert r.status_code == 202, r.text
    body = r.json()
    payload = c.get(body["redirect_url"]).json()["data"]["payload"]
    assert payload["file"]["filename"] == "b.txt"
    assert "data" not in payload["file"]["file"]  # the bytes are in the blob store
    run_jobs(crud, [(body["job_resource_name"], body["job_resource_id"])])
    job = c.get(body["redirect_url"]).json()["data"]
    assert job["status"] == "completed", job
    created = c.get(f"/article/{job['artifact']['resource_id']}").json()["data"]
    assert created["content"] == "later!"


# == permissions and scopes ======================================================================


def scoped() -> tuple[TestClient, SpecStar]:
    checker = ActionBasedChecker(
        {
            "read": any_user,
            "write": any_user,
            "action:level-up": lambda ctx: ctx.user != "bob",
            "action:train": lambda ctx: ctx.user != "bob",
            "action:bg-heal": owner,
            "action:safe-level-up": owner,
            "*": any_user,
        }
    )
    return build(permission_checker=checker)


def test_a_denied_user_gets_403_and_nothing_runs() -> None:
    c, crud = scoped()
    rid = new_character(c)
    for path in ("level-up", "train"):
        r = c.post(f"/character/{rid}/{path}", json={}, headers={"x-user": "bob"})
        assert r.status_code == 403, r.text
        assert r.json()["action"] == f"action:{path}"
    assert level_of(c, rid) == 1
    jobs = crud.get_resource_manager("character-train-job")
    assert jobs.count() == 0
    ok = c.post(f"/character/{rid}/level-up", json={}, headers={"x-user": "carol"})
    assert ok.status_code == 200


def test_a_target_outside_the_action_scope_is_404() -> None:
    c, _ = scoped()
    rid = new_character(c, user="alice")
    for path in ("safe-level-up", "bg-heal"):
        r = c.post(f"/character/{rid}/{path}", json={}, headers={"x-user": "eve"})
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert level_of(c, rid) == 1
    r = c.post(f"/character/{rid}/safe-level-up", json={}, headers={"x-user": "alice"})
    assert r.status_code == 200
    assert level_of(c, rid) == 2


def test_a_job_runs_as_its_creator_and_is_reauthorised_in_the_worker() -> None:
    c, crud = scoped()
    rid = new_character(c)
    jobs = crud.get_resource_manager("character-train-job")
    assert isinstance(jobs, JobManager)
    # a job created directly (not through the action route) by a user the action denies
    forged = c.post(
        "/character-train-job",
        json={"payload": {"body": {"levels": 50}, "resource_id": rid, "expected_etag": None}},
        headers={"x-user": "bob"},
    )
    assert forged.status_code == 201, forged.text
    jid = forged.json()["resource_id"]
    run_jobs(crud, [("character-train-job", jid)])
    job = jobs.get(jid).data
    assert job.status is JobStatus.failed
    assert "PermissionDeniedError" in (job.errmsg or "")
    assert level_of(c, rid) == 1


def test_background_failures_are_logged_with_action_resource_and_user(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    c, _crud = client
    rid = new_character(c, level=100)
    with caplog.at_level(logging.ERROR, logger="specstar.fastapi.actions"):
        r = c.post(f"/character/{rid}/bg-heal", headers={"x-user": "alice"})
    assert r.status_code == 202
    record = next(r for r in caplog.records if r.name == "specstar.fastapi.actions")
    assert "'bg-heal'" in record.getMessage()
    assert rid in record.getMessage()
    assert "'alice'" in record.getMessage()
    assert level_of(c, rid) == 100


# == registration and OpenAPI ====================================================================


def test_registration_refuses_what_it_cannot_honour() -> None:
    crud = SpecStar()

    def handler(existing: Character) -> None:
        return None

    with pytest.raises(ValueError, match="async_mode"):
        crud.update_action("character", async_mode="later")(handler)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="job_name"):
        crud.update_action("character", job_name="x")(handler)
    with pytest.raises(ValueError, match="mode"):
        crud.update_action("character", mode="patch")(handler)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="taken by a generated route"):
        crud.update_action("character", path="revisions")(handler)
    for taken in ("import", "export", "count"):
        with pytest.raises(ValueError, match="taken by a generated route"):
            crud.create_action("character", path=taken)(handler)
    with pytest.raises(ValueError, match="path"):
        crud.update_action("character", path="Level Up")(handler)

    def needs_dep(user: str = Depends(lambda: "x")) -> None:
        return None

    with pytest.raises(TypeError, match="dependency"):
        crud.create_action("character", async_mode="job")(needs_dep)
    crud.update_action("character")(handler)
    with pytest.raises(ValueError, match="already"):
        crud.update_action("character")(handler)
    with pytest.raises(ValueError, match="unregistered models: character"):
        crud.apply(FastAPI())


def test_defaults_of_path_and_label_and_the_openapi_extensions(client: Any) -> None:
    c, _ = client
    doc = c.get("/openapi.json").json()
    op = doc["paths"]["/character/{resource_id}/bg-heal"]["post"]
    assert op["x-specstar-update-action"] == {
        "resource": "character",
        "path": "bg-heal",
        "label": "Background Heal",
        "async_mode": "background",
        "permission": "action:bg-heal",
        "mode": "update",
    }
    create_op = doc["paths"]["/article/import-from-url"]["post"]
    assert create_op["x-specstar-create-action"]["label"] == "Import from URL"
    updates = {a["path"]: a for a in doc["x-specstar-custom-update-actions"]["character"]}
    assert updates["inspect-only"]["label"] == "Inspect Only"  # from the function name
    creates = [a["path"] for a in doc["x-specstar-custom-create-actions"]["article"]]
    assert "generate-article" in creates
    assert doc["x-specstar-async-create-jobs"]["article"][0]["job_resource_name"] == (
        "article-generate-article-job"
    )
    assert [j["path"] for j in doc["x-specstar-async-update-jobs"]["character"]] == ["train"]
    assert "202" in op["responses"]
    assert "JobRedirectInfo" in doc["components"]["schemas"]


# == schemathesis ================================================================================


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_on_the_action_routes() -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import (
        negative_data_rejection,
        positive_data_acceptance,
    )

    c, crud = build()
    hero = new_character(c)
    schema = schemathesis.openapi.from_asgi("/openapi.json", c.app)
    statuses: list[int] = []

    def run(strategy: Any, examples: int, excluded: tuple[Any, ...] = ()) -> None:
        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call()
            statuses.append(response.status_code)
            case.validate_response(response, excluded_checks=[positive_data_acceptance, *excluded])

        check()

    actions = {a.path for a in crud.custom_actions} - {"teapot"}  # 418: the handler's own
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.method.upper() == "POST"
        and op.path.split("/")[1] in ("article", "character")
        and op.path.rsplit("/", 1)[-1] in actions
    ]
    assert len(operations) == len(actions)
    multiparts = 0
    for op in operations:
        run(op.as_strategy(generation_mode=GenerationMode.POSITIVE), 12)
        # a multipart file part is bytes on the wire whatever schemathesis made of it (a
        # "negative" object arrives as a valid file): only the other checks apply there
        multipart = "multipart/form-data" in str(op.definition.raw.get("requestBody", ""))
        excluded = (negative_data_rejection,) if multipart else ()
        multiparts += multipart
        run(op.as_strategy(generation_mode=GenerationMode.NEGATIVE), 6, excluded)
        if "{resource_id}" in op.path:
            run(op.as_strategy(path_parameters={"resource_id": hero}), 10)
    print(
        f"\nschemathesis on actions: {len(statuses)} requests, {sorted(Counter(statuses).items())}"
    )
    assert not [s for s in statuses if s >= 500]
    assert multiparts == 2  # the two actions taking a file
    assert len(statuses) > 200
    assert {200, 201, 202} <= set(statuses)  # the run reached the handlers


def test_rbac_rules_grant_an_action_by_name_and_scope_it() -> None:
    from specstar.core import Membership, PermissionRule, RBACChecker, ResourceManager, Role

    roles = ResourceManager(Role)
    memberships = ResourceManager(Membership, indexed_fields=["user"])
    rules = ResourceManager(PermissionRule, indexed_fields=["role"])
    roles.create(Role(name="player"))
    for user in ("pat", "sam"):
        memberships.create(Membership(user=user, role="player"))
    for action in ("read", "write"):
        rules.create(PermissionRule(role="player", resource="*", action=action, effect="allow"))
    rules.create(
        PermissionRule(
            role="player",
            resource="character",
            action="action:safe-level-up",
            effect="allow",
            scope='$created_by == "$user"',
        )
    )
    c, _ = build(permission_checker=RBACChecker(roles, memberships, rules, root_user="root"))
    rid = new_character(c, user="pat")
    pat, sam = {"x-user": "pat"}, {"x-user": "sam"}
    assert c.post(f"/character/{rid}/level-up", json={}, headers=pat).status_code == 403
    assert c.post(f"/character/{rid}/safe-level-up", headers=sam).status_code == 404
    assert c.post(f"/character/{rid}/safe-level-up", headers=pat).status_code == 200
    assert c.get(f"/character/{rid}", headers=pat).json()["data"]["level"] == 2


def test_a_job_whose_if_match_went_stale_fails_without_retrying(client: Any) -> None:
    c, crud = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/train", json={}, headers={"If-Match": f'"{rid}:1"'})
    assert r.status_code == 202
    assert c.post(f"/character/{rid}/level-up", json={}).status_code == 200  # moves to :2
    body = r.json()
    run_jobs(crud, [(body["job_resource_name"], body["job_resource_id"])])
    job = c.get(body["redirect_url"]).json()["data"]
    assert job["status"] == "failed"
    assert job["retries"] == 0
    assert "PreconditionFailedError" in job["errmsg"]
    assert level_of(c, rid) == 2


def test_a_job_that_met_a_concurrent_change_runs_again_on_fresh_data(client: Any) -> None:
    c, crud = client
    rid = new_character(c)
    r = c.post(f"/character/{rid}/train", json={"levels": 2})
    assert r.status_code == 202
    manager = crud.get_resource_manager("character")
    real_get = manager.get

    def get_then_race(*args: Any, **kwargs: Any) -> Any:
        current = real_get(*args, **kwargs)
        manager.get = real_get  # type: ignore[method-assign]
        manager.update(rid, Character(name="other", level=7))
        return current

    manager.get = get_then_race  # type: ignore[method-assign]
    body = r.json()
    run_jobs(crud, [(body["job_resource_name"], body["job_resource_id"])])
    job = c.get(body["redirect_url"]).json()["data"]
    assert job["status"] == "completed", job
    assert job["retries"] == 1  # the first attempt's result was refused, not written
    assert level_of(c, rid) == 9  # 7 from the concurrent write, + 2 on the fresh data
