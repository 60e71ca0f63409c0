"""The RabbitMQ example of docs/jobs.md runs against the test broker (the docs test skips it,
as it needs a broker)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "jobs.md"


def test_the_rabbitmq_example_of_the_jobs_page_runs(amqp_url: str) -> None:
    section = DOC.read_text().split("## RabbitMQ\n", 1)[1]
    block = re.search(r"^```python\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    assert block is not None
    code = block.group(1)
    assert "RabbitMessageQueueFactory" in code
    namespace = {"__name__": "rabbit_docs_example", "AMQP_URL": amqp_url}
    exec(compile(code, f"{DOC.name}[RabbitMQ]", "exec"), namespace)
