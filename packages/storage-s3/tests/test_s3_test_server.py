"""The test S3 server decides conditional creates atomically, as S3 does.

moto alone checks ``If-None-Match: *`` and stores the object in two steps on concurrent server
threads, so two racing creates of one key could both succeed (the second replacing the first);
seen about once in 200 keys with 16 racing writers. The S3 backends' commit log depends on that
decision, so the server the tests start serialises conditional writes: every key here must have
exactly one winner, and the stored object must be the winner's.
"""

from __future__ import annotations

import threading

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from specstar.testing.services import fresh_bucket, s3_options

WRITERS = 16
KEYS = 30
LOSER_CODES = ("PreconditionFailed", "ConditionalRequestConflict")


def test_one_winner_per_conditional_create(s3_endpoint: str) -> None:
    bucket = fresh_bucket(s3_endpoint)
    client = boto3.client(
        "s3", **s3_options(s3_endpoint), config=Config(max_pool_connections=WRITERS)
    )
    doubled: list[str] = []
    unexpected: list[str] = []
    wrong: list[str] = []
    for k in range(KEYS):
        key = f"log/{k:04d}"
        winners: list[int] = []
        start = threading.Barrier(WRITERS)

        def create(
            i: int, key: str = key, winners: list[int] = winners, start: threading.Barrier = start
        ) -> None:
            start.wait()
            body = bytes([i]) * 100_000
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in LOSER_CODES:
                    unexpected.append(f"{key}: {exc}")
                return
            winners.append(i)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(winners) != 1:
            doubled.append(f"{key}: {len(winners)} winners")
            continue
        stored = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if stored[:1] != bytes([winners[0]]):
            wrong.append(key)
    assert not unexpected, unexpected
    assert not doubled, doubled
    assert not wrong, f"objects not the winner's: {wrong}"
