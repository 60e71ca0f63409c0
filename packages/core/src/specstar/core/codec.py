"""Encoding of revision payloads (JSON or MessagePack) for one model type."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import msgspec

__all__ = ["Codec", "Encoding"]

T = TypeVar("T")
Encoding = Literal["json", "msgpack"]


class Codec(Generic[T]):
    """Encodes model instances to bytes and back; decoding validates against the model."""

    def __init__(self, model: type[T], encoding: Encoding = "json") -> None:
        if encoding not in ("json", "msgpack"):
            raise ValueError(f"encoding must be 'json' or 'msgpack', not {encoding!r}")
        self.encoding = encoding
        self.model = model
        if encoding == "json":
            self._encoder: Any = msgspec.json.Encoder(order="deterministic")
            self._decoder: Any = msgspec.json.Decoder(model)
        else:
            self._encoder = msgspec.msgpack.Encoder(order="deterministic")
            self._decoder = msgspec.msgpack.Decoder(model)

    def encode(self, obj: T) -> bytes:
        data: bytes = self._encoder.encode(obj)
        return data

    def decode(self, data: bytes) -> T:
        obj: T = self._decoder.decode(data)
        return obj
