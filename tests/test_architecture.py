"""The layering of ARCHITECTURE.md, read off the source: every import of every module (function-level
imports too), mapped to the part of the package it reaches (``config``, ``models``, ``errors``, ...)."""
import ast
import os
from collections import defaultdict
from itertools import pairwise
from typing import Dict, List, Set, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "timesformer")

Edges = Dict[str, Dict[str, List[str]]]  # part -> {part it imports: ["file:line", ...]}


def _part(dotted: str) -> str:
    """'timesformer.models.vit' -> 'models'; '' for the package root itself."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _imported(node: ast.AST, module: str, is_package: bool) -> List[str]:
    """The dotted names an import statement reaches, relative imports resolved against ``module``."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = module if is_package else module.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        base = base.rsplit(".", 1)[0]
    target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
    # 'from timesformer import errors' reaches timesformer.errors
    return [f"{target}.{a.name}" for a in node.names] if target == "timesformer" else [target]


def import_edges() -> Edges:
    """Every import between the parts of the package, with where it is written."""
    edges: Edges = defaultdict(lambda: defaultdict(list))
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = _module_name(path)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                for target in _imported(node, module, name == "__init__.py"):
                    if target.split(".")[0] != "timesformer":
                        continue
                    src, dst = _part(module), _part(target)
                    if src and dst and src != dst:
                        edges[src][dst].append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    return edges


def _cycle(edges: Edges) -> List[str]:
    """One import cycle between parts ([] when there is none)."""
    state: Dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def _where(edges: Edges, pairs: List[Tuple[str, str]]) -> str:
    return "; ".join(f"{a} -> {b} at {', '.join(edges[a][b][:3])}" for a, b in pairs)


def test_the_parts_of_the_package_import_one_way():
    edges = import_edges()
    cycle = _cycle(edges)
    assert not cycle, f"import cycle {' -> '.join(cycle)}: {_where(edges, list(pairwise(cycle)))}"


def test_config_is_a_leaf():
    edges = import_edges()
    allowed: Set[str] = {"errors", "utils"}
    extra = sorted(set(edges.get("config", {})) - allowed)
    assert not extra, f"config imports {extra}: {_where(edges, [('config', p) for p in extra])}"


def test_models_and_data_do_not_know_each_other():
    edges = import_edges()
    pairs = [(a, b) for a, b in (("models", "data"), ("data", "models")) if b in edges.get(a, {})]
    assert not pairs, _where(edges, pairs)


def test_the_command_lines_sit_on_top():
    # timesformer.cli (the tools) may import every part; no part imports it (python -m timesformer aside)
    edges = import_edges()
    pairs = [(a, "cli") for a in edges if a not in ("cli", "__main__") and "cli" in edges[a]]
    assert not pairs, _where(edges, pairs)
    assert {"engine", "config", "errors"} <= set(edges["cli"])


def test_the_engine_imports_nothing_above_it():
    edges = import_edges()
    above = ("inference", "export", "benchmark", "visualize", "features")  # ARCHITECTURE.md's diagram
    pairs = [("engine", p) for p in above if p in edges.get("engine", {})]
    assert not pairs, _where(edges, pairs)


def test_checkpoint_holds_no_model_code():
    edges = import_edges()
    pairs = [("checkpoint", p) for p in ("models", "engine", "data") if p in edges.get("checkpoint", {})]
    assert not pairs, _where(edges, pairs)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    # The parser itself: a lazy import inside a function and a relative import both count.
    src = "def f():\n    from timesformer.models import build\n"
    tree = ast.parse(src)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert _imported(node, "timesformer.config.checks", False) == ["timesformer.models"]
    rel = ast.parse("from ..checkpoint import formats\n").body[0]
    assert _imported(rel, "timesformer.models.pretrained", False) == ["timesformer.checkpoint"]
    top = ast.parse("from timesformer import errors\n").body[0]
    assert _imported(top, "timesformer.config", True) == ["timesformer.errors"]
    assert _cycle({"a": {"b": ["x"]}, "b": {"a": ["y"]}}) in (["a", "b", "a"], ["b", "a", "b"])
