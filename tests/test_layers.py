"""The grader's modules import one another without a circle (imports inside functions count too: a
lazy import is still a dependency), and check authors use the judge library's one public face."""
from __future__ import annotations

import ast
from pathlib import Path

import grader.judge
from grader.judge import __all__ as PUBLIC

GRADER = Path(grader.judge.__file__).resolve().parent.parent


def _module(path: Path) -> str:
    parts = path.relative_to(GRADER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the grader modules it imports anywhere in its source (the probes run in the sandbox
    on their own path and import none of the grader's modules)."""
    modules = {_module(p): p for p in GRADER.rglob("*.py") if "probes" not in p.relative_to(GRADER).parts[:1]}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("grader.")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("grader"):
                for alias in node.names:   # `from grader.judge import replay`: the module that defines it
                    if node.module == "grader.judge" and alias.name in PUBLIC:
                        found.add("grader." + grader.judge.module_of(alias.name).removesuffix(".py").replace("/", "."))
                    elif f"{node.module}.{alias.name}" in modules:
                        found.add(f"{node.module}.{alias.name}")
                    else:
                        found.add(node.module)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}   # 1: on the path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_import_circle():
    assert circle(imports()) is None, " -> ".join(circle(imports()))


def test_the_circle_finder_finds_one():
    assert circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert circle({"a": {"b"}, "b": set()}) is None


def test_the_plugin_is_the_lowest_layer_of_the_judge():
    assert not imports()["grader.plugin"] - {"grader.sandbox"}   # it reports the sandbox's own failures


def test_checks_use_the_judge_library_through_its_public_face():
    for path in sorted((GRADER / "checks").glob("*/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("grader.judge.", "grader.plugin")):
                raise AssertionError(f"{path.relative_to(GRADER)} imports {node.module}: use `from grader.judge import ...`")


def test_every_public_name_exists_where_it_is_said_to_be():
    for name in PUBLIC:
        assert getattr(grader.judge, name) is not None
        source = (GRADER / grader.judge.module_of(name)).read_text(encoding="utf-8")
        assert f"def {name}" in source or f"class {name}" in source or f"\n{name} = " in source or f"\n{name}: " in source, name


def test_the_authoring_guide_lists_every_public_name():
    guide = (GRADER.parent / "docs" / "authoring.md").read_text(encoding="utf-8")
    assert not [name for name in PUBLIC if f"`{name}`" not in guide]
