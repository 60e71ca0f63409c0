"""The benchmark model of the raw drivers, its JSON codec and their ids."""

from __future__ import annotations

import uuid

import msgspec


class RawUser(msgspec.Struct):
    """The benchmark model without any framework annotation."""

    name: str
    email: str
    age: int
    score: float
    tags: list[str]
    active: bool


encode = msgspec.json.Encoder().encode
decode_user = msgspec.json.Decoder(RawUser).decode


def new_id() -> str:
    return uuid.uuid4().hex


class DuplicateEmailError(Exception):
    """The email is taken by another row."""
