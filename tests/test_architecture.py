"""The package's shape: imports point one way through the stages, and the numeric core
does no I/O (docs/architecture.md).

Every import statement of every module is read from its syntax tree, including imports
inside functions (the lazy ones), so a rule cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stressmodel"

#: stage subpackages in pipeline order; a stage may import only earlier ones
ORDER = ("inputs", "model", "analysis", "pipeline", "report", "run")
#: top-level modules shared by every stage
SHARED = {"stressmodel", "stressmodel.errors", "stressmodel.names"}
IO_LIBRARIES = ("click", "openpyxl", "xlsxwriter")
#: calls that open, write or remove files (names that only ever mean file I/O: not
#: ``replace`` or ``rename``, which dataclasses, str and polars use too)
FILE_CALLS = {
    "open",
    "read_text",
    "write_text",
    "read_bytes",
    "write_bytes",
    "mkdir",
    "unlink",
    "rmdir",
    "read_csv",
    "write_csv",
    "read_parquet",
    "write_parquet",
    "scan_csv",
    "scan_parquet",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module name that ``path`` imports (absolute; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # ``from stressmodel.model import engine`` imports stressmodel.model.engine
            found.extend((node.lineno, f"{name}.{a.name}") for a in node.names)
    return found


def _stage(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "stressmodel" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ORDER else None


MODULES = _modules()


def test_every_module_sits_in_a_stage_or_is_shared() -> None:
    top = {m for m in MODULES if m.count(".") == 1 and _stage(m) is None}
    assert top <= SHARED | {
        "stressmodel.cli",
        "stressmodel.__main__",
        "stressmodel.bench",
    }, top


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module: str) -> None:
    """A stage imports only itself, earlier stages and the shared modules; no stage
    imports the CLI; report/ never imports run/."""
    own = _stage(module)
    if own is None:
        return
    rank = ORDER.index(own)
    bad = []
    for line, name in _imports(MODULES[module], module):
        if name == "stressmodel.cli" or name.startswith("stressmodel.cli."):
            bad.append((line, name))
            continue
        other = _stage(name)
        if other is not None and ORDER.index(other) > rank:
            bad.append((line, name))
    assert not bad, f"{module} imports a later stage: {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _stage(m) in ("model", "analysis")))
def test_numeric_core_imports_no_io_library_and_opens_no_file(module: str) -> None:
    path = MODULES[module]
    libs = [
        (line, name) for line, name in _imports(path, module) if name.split(".")[0] in IO_LIBRARIES
    ]
    assert not libs, f"{module} imports {libs}"
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            name = (
                f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            )
            if name in FILE_CALLS:
                calls.append((node.lineno, name))
    assert not calls, f"{module} opens or writes files: {calls}"


def test_inputs_import_no_later_stage() -> None:
    bad = {
        m: [n for _, n in _imports(p, m) if _stage(n) not in (None, "inputs")]
        for m, p in MODULES.items()
        if _stage(m) == "inputs"
    }
    assert not {m: v for m, v in bad.items() if v}


def test_report_does_not_import_run() -> None:
    bad = {
        m: [n for _, n in _imports(p, m) if _stage(n) == "run"]
        for m, p in MODULES.items()
        if _stage(m) == "report"
    }
    assert not {m: v for m, v in bad.items() if v}


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself: a model module importing xlsxwriter and run/ is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import xlsxwriter\nfrom stressmodel.run.outputs import write_csv\n"
        "def f(p):\n    return open(p)\n",
        encoding="utf-8",
    )
    names = [n for _, n in _imports(bad, "stressmodel.model.bad")]
    assert "xlsxwriter" in names
    assert _stage("stressmodel.run.outputs.write_csv") == "run"
    assert ORDER.index("run") > ORDER.index("model")


def test_numeric_core_loads_without_io_libraries_at_run_time() -> None:
    """Importing every model/ and analysis/ module pulls in none of the I/O libraries."""
    mods = sorted(m for m in MODULES if _stage(m) in ("model", "analysis"))
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(','.join(m for m in {IO_LIBRARIES!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
