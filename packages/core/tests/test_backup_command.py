"""The ``specstar dump``/``load`` commands, their progress display, and subcommands added by
installed packages through the ``specstar.commands`` entry points."""

from __future__ import annotations

import importlib.metadata
import io
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from specstar.core import cli
from specstar.core.backup import Progress
from specstar.core.backup.display import ProgressDisplay, format_bytes, format_duration

APP = textwrap.dedent(
    """
    from typing import Annotated
    import msgspec
    from specstar.core import ResourceManager, Unique
    from specstar.core.memory import MemoryStorageFactory

    class Pet(msgspec.Struct, kw_only=True):
        name: Annotated[str, Unique()]
        kind: str = "cat"

    def managers():
        return [ResourceManager(Pet, storage_factory=MemoryStorageFactory(),
                                indexed_fields=["kind"])]

    source = managers()
    for n in range(12):
        source[0].create({"name": f"p{n}", "kind": "dog" if n % 3 else "cat"},
                         user="u", resource_id=f"pet-{n}")
    target = managers()
    clash = managers()
    clash[0].create({"name": "p1"}, user="u", resource_id="other")
    """
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    name = f"bkapp_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


def test_dump_then_load(app: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "pets.bak"
    mod = app.__name__
    assert cli.main(["dump", f"{mod}:source", "-o", str(file)]) == 0
    err = capsys.readouterr().err
    assert "pet: 12 resources, 12 revisions, 0 blobs" in err
    assert "12/12 resources (100%)" in err  # the last plain line
    assert cli.main(["load", f"{mod}:target", str(file)]) == 0
    assert "pet: 12 loaded, 0 skipped, 0 failed of 12" in capsys.readouterr().err
    assert app.target[0].count() == 12
    # a refused record: exit status 1 and the reason
    assert cli.main(["load", f"{mod}:clash", str(file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "refused pet pet-1" in err
    assert "p1" in err
    assert cli.main(["load", f"{mod}:target", str(file), "--on-duplicate", "raise_error"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_dump_with_model_and_query(app: Any, tmp_path: Path) -> None:
    file = tmp_path / "dogs.bak"
    mod = app.__name__
    argv = ["dump", f"{mod}:source", "-o", str(file), "--model", "pet", "--qb", 'kind == "dog"']
    assert cli.main([*argv, "--quiet"]) == 0
    assert cli.main(["load", f"{mod}:target", str(file), "--quiet"]) == 0
    assert app.target[0].count() == 8


def test_bad_input_is_refused(app: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mod = app.__name__
    out = str(tmp_path / "x.bak")
    assert cli.main(["dump", f"{mod}:source", "-o", out, "--model", "nope"]) == 2
    assert "unknown model(s) nope" in capsys.readouterr().err
    assert cli.main(["dump", f"{mod}:source", "-o", out, "--model", "pet", "--qb", "kind =="]) == 2
    with pytest.raises(SystemExit):
        cli.main(["dump", f"{mod}:source", "-o", out, "--qb", 'kind == "dog"'])
    assert "--qb needs a --model before it" in capsys.readouterr().err
    damaged = tmp_path / "damaged.bak"
    assert cli.main(["dump", f"{mod}:source", "-o", str(damaged), "--quiet"]) == 0
    damaged.write_bytes(damaged.read_bytes()[:-4])
    assert cli.main(["load", f"{mod}:target", str(damaged)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert app.target[0].count() == 0
    with pytest.raises(SystemExit):
        cli.main(["load", f"{mod}:target", str(damaged), "--on-duplicate", "merge"])


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_on_a_terminal_redraws_one_line() -> None:
    out, clock = io.StringIO(), _Clock()
    show = ProgressDisplay(out, tty=True, clock=clock)
    show(Progress(phase="dump", model="pet", resources=0, total=100, bytes=16))
    clock.now = 2.0
    show(Progress(phase="dump", model="pet", resources=50, total=100, bytes=3 * 1024 * 1024))
    clock.now = 2.01  # too soon: not redrawn
    show(Progress(phase="dump", model="pet", resources=51, total=100, bytes=3 * 1024 * 1024))
    clock.now = 4.0
    show(
        Progress(
            phase="dump", model=None, resources=100, total=100, bytes=6 * 1024 * 1024, done=True
        )
    )
    text = out.getvalue()
    frames = text.split("\r\x1b[K")
    assert len(frames) == 4  # "" + three draws
    assert "[############............]" in frames[2]
    assert "50/100 resources (50%)" in frames[2]
    assert "3.0 MiB  25/s  ETA 0:00:02" in frames[2]
    assert frames[3].endswith("done in 0:00:04\n")


def test_progress_without_a_terminal_prints_plain_lines() -> None:
    out, clock = io.StringIO(), _Clock()
    show = ProgressDisplay(out, tty=False, clock=clock)
    for n in range(1, 11):
        clock.now = n
        show(
            Progress(
                phase="load", model="pet", resources=n, total=10, bytes=n * 100, total_bytes=1000
            )
        )
    show(
        Progress(
            phase="load",
            model=None,
            resources=10,
            total=10,
            bytes=1000,
            total_bytes=1000,
            done=True,
        )
    )
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 3  # at 1 s, at 6 s, and done
    assert lines[1].startswith("load  pet  6/10 resources (60%)  600 B/1000 B")
    assert "done in" in lines[2]
    assert format_bytes(5 * 1024**3) == "5.0 GiB"
    assert format_duration(3725) == "1:02:05"


def test_installed_packages_add_subcommands(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def add(commands: Any, load_object: Any) -> None:
        p = commands.add_parser("hello")
        p.add_argument("who")
        p.set_defaults(run=lambda args: ran.append(args.who) or 0)

    class Entry:
        name = "hello"
        value = "pkg.cmd:add"

        def load(self) -> Any:
            return add

    def entry_points(**kw: Any) -> list[Any]:
        assert kw == {"group": "specstar.commands"}
        return [Entry()]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert cli.main(["hello", "world"]) == 0
    assert ran == ["world"]

    class Clash(Entry):
        name = "dump"

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [Clash()])
    with pytest.raises(RuntimeError, match="'dump', which is taken"):
        cli.main(["dump", "x:y", "-o", "-"])
