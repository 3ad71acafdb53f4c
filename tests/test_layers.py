"""The layers import one way (CONTRIBUTING.md, "Rules"): ml <- kernel (emotrace) <- api, worker.

Read from the source with ``ast``, imports inside functions included, so a shortcut across a
layer fails here instead of surfacing later as an import cycle or a pipeline that needs a server.
Relative imports are not checked: they cannot leave their own package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("ml", "emotrace", "api", "worker")
FORBIDDEN = {
    "ml": {"emotrace", "api", "worker"},  # `emotrace analyze` and training run without the service
    "emotrace": {"api", "worker"},  # the kernel both processes share
    "api": {"worker"},  # the API reaches workers only through emotrace.queue
    "worker": {"api"},
}
# `emotrace serve` and `emotrace worker` start the processes; their imports stay inside those
# commands, so importing the CLI (or the kernel) never loads the API or the worker.
IMPORTS_IN_COMMANDS_ONLY = {"emotrace/cli/app.py"}


def imported(node: ast.AST, *, in_functions: bool = True) -> set[str]:
    """Which of our layers the code under ``node`` imports."""
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            found.update(alias.name.split(".")[0] for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            found.add(child.module.split(".")[0])
        elif in_functions or not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            found |= imported(child, in_functions=in_functions)
    return found & set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_one_way(layer: str) -> None:
    modules = sorted((REPO / layer).rglob("*.py"))
    assert modules, f"no modules under {layer}/"
    crossings = []
    for path in modules:
        name = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(), filename=name)
        wrong = imported(tree, in_functions=name not in IMPORTS_IN_COMMANDS_ONLY) & FORBIDDEN[layer]
        crossings += [f"{name} imports {target}" for target in sorted(wrong)]
    assert not crossings, "\n".join(crossings)
