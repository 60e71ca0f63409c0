"""Workspace rules: namespace packaging, lockstep versions, typed packages, the dependency rule."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


def _version(package: Path) -> str:
    name = package.name.replace("-adapter", "").replace("storage-", "")
    files = list((package / "src" / "specstar").glob("*/_version.py"))
    assert len(files) == 1, f"{package.name}: expected one _version.py, found {files} ({name})"
    match = re.search(r'__version__ = "([^"]+)"', files[0].read_text())
    assert match, files[0]
    return match.group(1)


def test_versions_are_lockstep() -> None:
    versions = {p.name: _version(p) for p in PACKAGES}
    assert len(set(versions.values())) == 1, versions


def test_pep420_namespace_and_typed() -> None:
    for package in PACKAGES:
        src = package / "src" / "specstar"
        assert not (src / "__init__.py").exists(), f"{package.name} ships specstar/__init__.py"
        subpackages = [d for d in src.iterdir() if d.is_dir() and d.name != "__pycache__"]
        assert len(subpackages) == 1, f"{package.name}: {subpackages}"
        assert (subpackages[0] / "py.typed").exists(), f"{package.name} lacks py.typed"
        assert (package / "README.md").exists()
        assert list((package / "tests").glob("test_*.py")) or list(
            (package / "tests").glob("*/test_*.py")
        ), f"{package.name} has no tests"


def test_core_depends_on_msgspec_only() -> None:
    meta = tomllib.loads((ROOT / "packages/core/pyproject.toml").read_text())
    assert meta["project"]["dependencies"] == ["msgspec>=0.19"]
    stdlib = set(__import__("sys").stdlib_module_names)
    for path in (ROOT / "packages/core/src").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "specstar":
                    assert name.startswith("specstar.core"), f"{path}: imports {name}"
                else:
                    assert top in stdlib or top == "msgspec", f"{path}: imports {name}"


def test_every_triaged_mutant_still_names_a_line_of_its_module() -> None:
    """``scripts/mutation_triage.txt`` recognises a mutant by the text of its line: when that
    line is edited away, the verdict (often an argument about that very line) must be made
    again, so the entry fails here rather than silently matching nothing."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("specstar_mutation", ROOT / "scripts/mutation.py")
    assert spec is not None
    assert spec.loader is not None
    mutation = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mutation
    try:
        spec.loader.exec_module(mutation)
        triaged = mutation._triage()
        assert triaged, "no triaged mutant read"
        missing = []
        for module, operator, column, text in triaged:
            lines = {
                ln.strip() for ln in (ROOT / mutation.MODULES[module].path).read_text().splitlines()
            }
            if text not in lines:
                missing.append(f"{module} {operator} column {column}: {text!r}")
        assert not missing, "triaged lines no longer in their modules:\n" + "\n".join(missing)
    finally:
        del sys.modules[spec.name]
