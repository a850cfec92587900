"""The layering of ``src/diss``, read from the source: every module sits on a floor, a module imports only from its own
floor or lower ones, the imports between modules form no cycle, and no module imports another's private name (here,
in ``benchmarks/``, ``scripts/`` and ``examples/``). Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "diss"

#: the floors, lowest first: the house's plan (docs/architecture.md). A new module must be given one here.
FLOORS: dict[str, int] = {
    # 0: the decisions made once, and their helpers; no diss module below them
    **dict.fromkeys(["diss.errors", "diss.defaults", "diss.conventions", "diss.phi",
                     "diss.domains", "diss.options", "diss.outputs"], 0),  # fmt: skip
    # 1: the inputs (decoding, the two extractors, augmentations, the cache), model folders, the device, the U-Net,
    # the noise schedule, image grids
    **dict.fromkeys(["diss.data", "diss.data.images", "diss.data.inputs", "diss.data.sketch", "diss.data.stroke",
                     "diss.data.augment", "diss.data.cache", "diss.data.dataset", "diss.data.options",
                     "diss.data.drawings", "diss.data.cat_drawings", "diss.folder", "diss.runtime", "diss.diffusion",
                     "diss.model", "diss.grid"], 1),  # fmt: skip
    # 2: the paper's method: schedulers and the step loop, two-condition guidance, realism, editing, two-stage
    # training, the cascade's upsampler, the distilled student, the inference backend, the pipeline's inputs as tensors
    **dict.fromkeys(["diss.schedulers", "diss.sampling", "diss.guidance", "diss.realism", "diss.editing",
                     "diss.two_stage", "diss.upsampler", "diss.student", "diss.backend", "diss.conditions"],
                    2),  # fmt: skip
    # 3: the pipeline (diffusers-shaped), its argument checks, loading a model by name
    # (the package itself: `from diss import DiSSPipeline`)
    **dict.fromkeys(["diss", "diss.pipeline", "diss.checks", "diss.loading"], 3),
    # 4: the applications
    **dict.fromkeys(["diss.app", "diss.app.canvas", "diss.app.config", "diss.app.endpoints", "diss.app.layout",
                     "diss.app.models", "diss.app.preview", "diss.app.worker", "diss.demo", "diss.demo.config",
                     "diss.demo.run",
                     "diss.evaluate", "diss.evaluate.cascade", "diss.evaluate.config", "diss.evaluate.drawings",
                     "diss.evaluate.metrics", "diss.evaluate.report", "diss.evaluate.run", "diss.train",
                     "diss.train.checkpoint", "diss.train.config", "diss.train.distill", "diss.train.export",
                     "diss.train.loop", "diss.train.run", "diss.train.schedule", "diss.batches"], 4),  # fmt: skip
    # 5: the command line
    **dict.fromkeys(["diss.cli", "diss.cli.args", "diss.cli.app", "diss.cli.data", "diss.cli.demo",
                     "diss.cli.evaluate", "diss.cli.generate", "diss.cli.train", "diss.__main__"], 5),
}
#: the longest a module and a function may be; a page layout, whose length is its list of widgets, apart
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80
LONG_BY_NATURE = {("diss.app.layout", "build")}
#: applications that stay apart: none imports another (what two of them share lives on a lower floor)
APPLICATIONS = ("diss.app", "diss.demo", "diss.evaluate", "diss.train", "diss.batches")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every ``import`` and ``from … import`` in the file, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def diss_edges(path: Path) -> list[tuple[int, str]]:
    """(line, module) of each diss module the file imports (``from diss import defaults`` imports diss.defaults)."""
    edges = []
    for line, module, names in imports(path):
        if module == "diss" or module.startswith("diss."):
            subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in FLOORS]
            edges += [(line, m) for m in subs] or [(line, module)]
    return edges


def sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def application(module: str) -> str | None:
    return next((a for a in APPLICATIONS if module == a or module.startswith(a + ".")), None)


def layering_faults(files: list[Path]) -> list[str]:
    """Every import that breaks the plan, as "file:line: why"."""
    faults = []
    for path in files:
        me = module_name(path)
        if me not in FLOORS:
            faults.append(f"{path.relative_to(ROOT)}: {me} has no floor in tests/test_architecture.py")
            continue
        for line, other in diss_edges(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if other not in FLOORS:
                faults.append(f"{where}: imports {other}, which is not a module of the plan")
            elif FLOORS[other] > FLOORS[me]:
                faults.append(f"{where}: {me} (floor {FLOORS[me]}) imports {other} (floor {FLOORS[other]}), above it")
            elif application(me) and application(other) and application(me) != application(other):
                faults.append(f"{where}: the application {application(me)} imports another, {other}")
    return faults


def cycles(files: list[Path]) -> list[list[str]]:
    """The import cycles between modules (each found once, from its first module in sorted order)."""
    graph = {module_name(p): sorted({m for _, m in diss_edges(p) if m != module_name(p)}) for p in files}
    found, done = [], set()

    def visit(node: str, path: list[str]):
        for nxt in graph.get(node, []):
            if nxt in path:
                cycle = path[path.index(nxt) :]
                if min(cycle) == cycle[0] and cycle not in found:
                    found.append(cycle)
            elif nxt not in done:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
        done.add(start)
    return found


def private_imports(files: list[Path]) -> list[str]:
    """``from diss.x import _name`` (or ``x._name`` of an imported diss module) in another module."""
    faults = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = set()
        for line, module, names in imports(path):
            if module == "diss" or module.startswith("diss."):
                faults += [f"{path.relative_to(ROOT)}:{line}: imports {module}.{n}" for n in names if n.startswith("_")
                           and not n.startswith("__")]  # fmt: skip
                modules |= {n for n in names if f"{module}.{n}" in FLOORS}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                faults.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses {node.value.id}.{node.attr}")
    return faults


def test_every_module_imports_only_from_its_floor_or_below():
    faults = layering_faults(sources())
    assert not faults, "\n".join(faults)


def test_modules_import_each_other_without_cycles():
    found = cycles(sources())
    assert not found, "\n".join(" → ".join([*c, c[0]]) for c in found)


def test_no_private_name_crosses_a_module():
    others = [p for d in ("benchmarks", "scripts", "examples") for p in sorted((ROOT / d).rglob("*.py"))]
    faults = private_imports(sources() + others)
    assert not faults, "\n".join(faults)


def test_modules_and_functions_stay_short():
    long = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and (module_name(path), node.name) not in LONG_BY_NATURE:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} is {lines} lines")
    assert not long, "\n".join(long)


def test_the_plan_names_only_modules_that_exist():
    assert sorted(set(FLOORS) - {module_name(p) for p in sources()}) == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("from diss.cli import main\n", "diss.data.images (floor 1) imports diss.cli (floor 5), above it"),
        ("from diss import pipeline\n", "diss.data.images (floor 1) imports diss.pipeline (floor 3), above it"),
        ("def f():\n    from diss.app.canvas import flatten\n", "imports diss.app.canvas (floor 4), above it"),
        ("from diss.data.sketch import _thin\n", "imports diss.data.sketch._thin"),
    ],
)
def test_the_check_finds_a_violating_import(tmp_path, monkeypatch, text, expected):
    """The check itself fails on a bad import: a copy of a floor-1 module given one."""
    fake = SRC / "data" / "images.py"
    copy = tmp_path / "images.py"
    copy.write_text(fake.read_text(encoding="utf-8") + text, encoding="utf-8")
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: Path.read_bytes(copy if self == fake else self).decode())
    faults = layering_faults([fake]) + private_imports([fake])
    assert any(expected in f for f in faults), faults


def test_the_check_finds_a_cycle(tmp_path, monkeypatch):
    a, b = SRC / "errors.py", SRC / "defaults.py"
    texts = {a: "from diss import defaults\n", b: "from diss import errors\n"}
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: texts.get(self) or Path.read_bytes(self).decode())
    assert cycles([a, b]) == [["diss.defaults", "diss.errors"]]
