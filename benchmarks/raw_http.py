"""The hand-written HTTP routes over the raw SQLite driver: the limit of the HTTP benchmark."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .raw_model import RawUser, encode
from .raw_sql import RawSQLite


def http_app(db: RawSQLite) -> Any:
    """FastAPI routes written by hand over ``sqlite3``: create, get by id, filtered list.

    Like the generated routes they are plain ``def`` functions (run in the thread pool, so
    the event loop never blocks on SQLite) and answer JSON encoded with msgspec.
    """
    app = FastAPI(title="raw sqlite3 routes")

    def json(body: Any, status: int = 200) -> Response:
        return Response(encode(body), status_code=status, media_type="application/json")

    def insert(payload: bytes) -> Response:
        try:
            user = msgspec.json.decode(payload, type=RawUser)
        except msgspec.ValidationError as exc:
            raise HTTPException(422, str(exc)) from None
        try:
            rid = db.insert_many([msgspec.to_builtins(user)])[0]
        except sqlite3.IntegrityError:
            raise HTTPException(409, "email taken") from None
        return json({"resource_id": rid, "revision": 1}, 201)

    @app.post("/user")
    async def create(request: Request) -> Response:
        return await run_in_threadpool(insert, await request.body())

    @app.get("/user/{rid}")
    def get(rid: str) -> Response:
        try:
            user = db.get(rid)
        except KeyError:
            raise HTTPException(404, "not found") from None
        return json({"resource_id": rid, "data": user})

    @app.get("/user")
    def search(age_gte: int, age_lt: int, active: bool) -> Response:
        if not active:
            raise HTTPException(400, "the benchmark lists active users only")
        page = db.list_page(age_gte, age_lt)
        return json([{"resource_id": m[0], "revision": m[1], "data": u} for m, u in page])

    return app
