"""The runtime's import direction, read from the source with ``ast`` (nothing is imported to check it).

(a) no module under runtime/ imports torch, nor impasto.export — except runtime/cli, which may import
    impasto.export lazily, inside a function, for the commands the export side implements;
(b) layers: core (0) < media (1) < nets, gatys (2) < serve, bench, deploy (3) < cli (4). A module imports only
    from its own layer or lower; nets and gatys do not import each other, nor do serve, bench and deploy. The
    package root (``impasto.runtime``, the public API) gathers layers 0–2, so nothing below layer 3 may import it;
(c) only runtime/cli imports argparse.
And every public name of ``impasto.runtime`` has a docstring of its own.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

RUNTIME = REPO / "runtime"
TOP_LEVEL = RUNTIME / "top_level"  # the `impasto` root package (pyproject maps it here): __version__ only
PACKAGE = "impasto.runtime"
LAYERS = {"core": 0, "media": 1, "nets": 2, "gatys": 2, "serve": 3, "bench": 3, "deploy": 3, "cli": 4}
ROOT_LAYER = 2.5  # impasto.runtime itself: imports layers 0–2, imported only by layers 3–4 and users
FORBIDDEN_EVERYWHERE = ("torch", "torchvision")
EXPORT = "impasto.export"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    path: Path
    line: int
    target: str  # the imported module, dotted (for `from a import b`: a.b when a.b is a module, else a)
    lazy: bool  # inside a function

    def __str__(self) -> str:
        where = "inside a function" if self.lazy else "at module level"
        return f"{self.path.relative_to(REPO)}:{self.line}: {self.module} imports {self.target} ({where})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(RUNTIME).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def _is_module(dotted: str) -> bool:
    if not dotted.startswith(PACKAGE):
        return False
    relative = dotted.removeprefix(PACKAGE).lstrip(".").replace(".", "/")
    base = RUNTIME / relative if relative else RUNTIME
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path) -> None:
        self.module, self.path = module, path
        self.package = _package_of(module, path)
        self.depth = 0
        self.found: list[Import] = []

    def _add(self, node: ast.AST, target: str) -> None:
        found = Import(self.module, self.path, node.lineno, target, self.depth > 0)
        if found not in self.found:
            self.found.append(found)

    def _function(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if source == "__future__":
            return
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            self._add(node, candidate if _is_module(candidate) else source)

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("x") and __import__("x") import as surely as an import statement
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        first = node.args[0] if node.args else None
        if name in ("import_module", "__import__") and isinstance(first, ast.Constant) and isinstance(first.value, str):
            self._add(node, first.value)
        self.generic_visit(node)


def _imports() -> list[Import]:
    found = []
    for path in sorted(p for p in RUNTIME.rglob("*.py") if TOP_LEVEL not in p.parents):
        module = _module_name(path)
        collector = _Collector(module, path)
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        found += collector.found
    return found


IMPORTS = _imports()


def _layer_name(module: str) -> str | None:
    """The runtime package a module belongs to (core, media, …); '' for the package root; None outside."""
    if module == PACKAGE:
        return ""
    if not module.startswith(PACKAGE + "."):
        return None
    return module.removeprefix(PACKAGE + ".").split(".")[0]


def _layer(module: str) -> float | None:
    name = _layer_name(module)
    if name is None:
        return None
    return ROOT_LAYER if name == "" else LAYERS.get(name)


def _report(bad: list[Import], rule: str) -> str:
    return f"{rule}:\n  " + "\n  ".join(map(str, bad))


def _is_within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def test_the_collector_sees_the_runtime():
    """Guards the guards: the scan must find the modules and imports these rules are about."""
    modules = {i.module for i in IMPORTS}
    assert len(modules) >= 30, sorted(modules)
    assert any(i.target.startswith("impasto.runtime.core.") for i in IMPORTS)
    assert any(i.target == "argparse" for i in IMPORTS)
    packages = {p.name for p in RUNTIME.iterdir() if (p / "__init__.py").is_file() and p != TOP_LEVEL}
    assert packages <= set(LAYERS), f"runtime packages without a layer here: {packages - set(LAYERS)}"


def test_no_module_imports_torch():
    bad = [i for i in IMPORTS if any(_is_within(i.target, name) for name in FORBIDDEN_EVERYWHERE)]
    assert not bad, _report(bad, "the runtime never imports torch")


# Modules of the export side that hold no torch (the defaults and choices the command line shows); the CLI may
# import them when it builds its parser. test_torch_free_export_modules_import_without_torch holds them to that.
TORCH_FREE_EXPORT = ("impasto.export.opsets", "impasto.export.training.settings")


def test_only_the_cli_imports_the_export_side_and_only_lazily():
    bad = [
        i for i in IMPORTS
        if _is_within(i.target, EXPORT)
        and not (_layer_name(i.module) == "cli" and (i.lazy or i.target in TORCH_FREE_EXPORT))
    ]  # fmt: skip
    assert not bad, _report(bad, "impasto.export may be imported only by runtime/cli, inside a function")


def test_torch_free_export_modules_import_without_torch():
    """The CLI builds its parser with these; in a runtime-only install (no torch) they must still import."""
    import subprocess
    import sys

    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for name in {TORCH_FREE_EXPORT!r}: importlib.import_module(name)\n"
        "from impasto.runtime.cli.main import build_parser\n"
        "build_parser().parse_args(['train', '--style', 's.jpg', '--content-dir', 'd'])\n"
        "assert 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_imports_go_down_the_layers():
    bad = []
    for i in IMPORTS:
        source, target = _layer(i.module), _layer(i.target)
        if target is None or source is None:
            continue  # third-party, impasto.models (data) and the like
        own, other = _layer_name(i.module), _layer_name(i.target)
        if target > source:
            bad.append(i)
        elif target == source and own != other and source in (2, 3):
            bad.append(i)  # siblings: nets ↮ gatys; serve ↮ bench ↮ deploy
    assert not bad, _report(bad, "imports must go to the same package or a lower layer " + str(LAYERS))


def test_only_the_cli_parses_arguments():
    bad = [i for i in IMPORTS if _is_within(i.target, "argparse") and _layer_name(i.module) != "cli"]
    assert not bad, _report(bad, "only runtime/cli imports argparse")


@pytest.mark.parametrize(
    ("source", "rule_broken"),
    [
        ("import torch\n", "torch"),
        ("def f():\n    from impasto.export.cli import main\n", "export"),
        ("from impasto.runtime.serve.app import create_app\n", "layer"),
        ("from ..gatys import optimize\n", "layer"),
        ("import argparse\n", "argparse"),
        ("import importlib\nimportlib.import_module('impasto.runtime.cli.main')\n", "layer"),
    ],
)
def test_the_rules_catch_a_planted_violation(source, rule_broken, tmp_path):
    """Each rule fails on a module that breaks it (here a fake runtime/nets/planted.py)."""
    path = RUNTIME / "nets" / "planted.py"
    collector = _Collector(_module_name(path), path)
    collector.visit(ast.parse(source))
    (found,) = collector.found[-1:]
    broken = {
        "torch": any(_is_within(found.target, name) for name in FORBIDDEN_EVERYWHERE),
        "export": _is_within(found.target, EXPORT),
        "layer": (_layer(found.target) or 0) > 2 or _layer_name(found.target) == "gatys",
        "argparse": found.target == "argparse",
    }
    assert broken[rule_broken], found


def _own_docstring(obj) -> str:
    doc = obj.__doc__ or ""
    if dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""  # the signature dataclasses write when the class has no docstring
    return doc.strip()


def test_every_public_name_has_a_docstring():
    import impasto.runtime as api

    assert api.__all__, "impasto.runtime declares no public API"
    missing = []
    for name in api.__all__:
        obj = getattr(api, name)
        if not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)):
            continue  # constants such as __version__
        if not _own_docstring(obj):
            missing.append(f"{name} ({inspect.getsourcefile(obj)})")
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


def test_the_cli_offers_exactly_the_architectures_the_export_side_builds():
    from impasto.export.training.settings import ARCHITECTURE_NAMES
    from impasto.export.training.transformer import ARCHITECTURES, CANDIDATES

    assert set(ARCHITECTURE_NAMES) == set(ARCHITECTURES) | set(CANDIDATES)
