"""The package's architecture, checked from its source: floors, and no import circles.

Every module of ``neuronet`` stands on a floor. A module may import modules on its own
floor or below, never above, and no set of modules may import each other in a circle.
The imports are read with ``ast`` from the files under ``src/neuronet`` (nothing is
imported), everywhere they occur: at module level and inside functions, methods,
classes, ``if`` blocks (``TYPE_CHECKING`` included) and ``try`` blocks. Deferred imports
count: an import moved into a function to dodge a circle is still a circle.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

# The floors, bottom (0) to top. An entry covers that module and, where it is a package,
# every module inside it ("neuronet.layers" covers neuronet.layers.dense); the package's
# own __init__ ("neuronet") is the one exact entry. Modules named here that are not on
# disk are ignored; a module on disk that no entry covers is an error: give it a floor.
FLOORS: dict[int, tuple[str, ...]] = {
    0: ("neuronet.validation",      # checking what callers pass in (scikit-learn's constraint vocabulary)
        "neuronet.initializers",    # starting weights (He, Glorot, ...)
        "neuronet.extras",          # how to install an optional extra (the messages that need one)
        "neuronet.data"),           # the dataset protocol fit reads a minibatch at a time; chunks
    1: ("neuronet.layers",),        # Dense, Conv2D, pooling, activations: forward and backward
    2: ("neuronet.losses",          # losses from the logits, with their gradients
        "neuronet.regularizers",    # penalties on the weights (L2), value and gradient
        "neuronet.optimizers",      # how a gradient becomes a step (SGD, Adam, Newton), and schedules
        "neuronet.gradcheck",       # finite-difference checks of layers, losses and networks
        "neuronet.threads",         # how many BLAS threads the work of a network pays for
        "neuronet.augment"),        # random crops, flips and colour changes of training images
    3: ("neuronet.callbacks",),     # History, Callback, EarlyStopping, progress bar, logger
    4: ("neuronet.training",        # the loop: gradient_step, Trainer (with its state API), fit
        "neuronet.tracing"),        # one forward and backward pass kept layer by layer, to be read
    5: ("neuronet.network",         # Sequential: layers applied one after another; its logits
        "neuronet.diagnosis"),      # why a network stopped learning: dead units, one class, zero gradients
    6: ("neuronet.files",),         # the file container: arrays + JSON, atomic writes, checksums
    7: ("neuronet.checkpoint",      # the whole state of a run in a file; the Checkpoint callback
        "neuronet.distributed"),    # data-parallel training over MPI: the loop's communicator
    8: ("neuronet.nn",),            # the layer-by-layer toolbox, re-exported in one place
    9: ("neuronet.preprocessing",), # what turns raw input into what the network was trained on
    10: ("neuronet.estimators",),   # scikit-learn estimators: LogisticRegression, MLPClassifier, CNNClassifier
    11: ("neuronet.persistence",),  # saving and loading whole models (the model-file schema)
    12: ("neuronet.imagefolder",    # folders of photos: decode, label, cache
         "neuronet.tables"),        # CSV tables of numbers: delimiter, header, label column
    13: ("neuronet.datasets",),     # named datasets, all offline, in one shape
    14: ("neuronet.plots",),        # figures of what a network learned
    15: ("neuronet.report",         # the report folder written by `neuronet train`
         "neuronet.studies",        # experiments that teach (the learning-rate study)
         "neuronet.rl",             # deep reinforcement learning: policy gradient on CartPole
         "neuronet.export"),        # ONNX graphs of networks, estimators and their scalers
    16: ("neuronet.studio",),       # the live page: server, training worker, static files
    17: ("neuronet.cli",),          # the `neuronet` command: parsing and printing
    18: ("neuronet",),              # the front door, neuronet/__init__.py: may import anything
}

PACKAGE = "neuronet"
SOURCE_ROOT = Path(__file__).resolve().parents[1] / "src"


# --- reading the package ------------------------------------------------------------------

def discover_modules(source_root: Path = SOURCE_ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package on disk, by dotted name; a package's __init__ is the package."""
    modules = {}
    for path in sorted((source_root / package).rglob("*.py")):
        parts = path.relative_to(source_root).with_suffix("").parts
        if "__pycache__" in parts or not all(part.isidentifier() for part in parts):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


@dataclass(frozen=True)
class Import:
    importer: str     # the module that imports
    imported: str     # the package module it imports (resolved)
    where: str        # file:line
    scope: str        # "module level", or "inside Trainer.fit" for a deferred import

    def __str__(self):
        return f"{self.importer} -> {self.imported}  ({self.where}, {self.scope})"


class _ImportCollector(ast.NodeVisitor):
    """Collects every import statement with its line and the def/class it sits in."""

    def __init__(self):
        self.found: list[tuple[ast.Import | ast.ImportFrom, str]] = []
        self._scope: list[str] = []

    def _nested(self, node):
        self._scope.append(node.name)
        self.generic_visit(node)
        self._scope.pop()

    def visit_FunctionDef(self, node):
        self._nested(node)

    def visit_AsyncFunctionDef(self, node):
        self._nested(node)

    def visit_ClassDef(self, node):
        self._nested(node)

    def visit_Import(self, node):
        self.found.append((node, "inside " + ".".join(self._scope) if self._scope else "module level"))

    visit_ImportFrom = visit_Import


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def resolve_imports(name: str, modules: dict[str, Path],
                    source_root: Path = SOURCE_ROOT) -> tuple[list[Import], list[str]]:
    """The package modules that module ``name`` imports, and the imports that resolve to nothing.

    ``import a.b.c`` imports a.b.c; ``from P import x`` imports P.x where that is a module on
    disk, otherwise P (x is then a name inside P). Relative imports are made absolute first,
    counting from the module's own package (a package's __init__ is inside that package).
    Imports outside the package (stdlib, third party) are ignored.
    """
    path = modules[name]
    relative_path = Path(source_root.name) / path.relative_to(source_root)
    collector = _ImportCollector()
    collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    here = name if _is_package(name, modules) else name.rpartition(".")[0]
    imports, broken, seen = [], [], set()

    def add(target, node, scope):
        where = f"{relative_path}:{node.lineno}"
        if (target, where) in seen:   # `from . import a, b` where a and b are both names in P
            return
        seen.add((target, where))
        if target not in modules:
            broken.append(f"{name} imports {target}, which is no module on disk ({where}, {scope})")
        elif target != name:
            imports.append(Import(name, target, where, scope))

    for node, scope in collector.found:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):
                    add(alias.name, node, scope)
            continue
        if node.level:
            base = here.split(".")
            if node.level - 1 >= len(base):
                broken.append(f"{name}: relative import beyond the top of the package "
                              f"({relative_path}:{node.lineno})")
                continue
            base = base[:len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if not _ours(source):
            continue
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            add(submodule if submodule in modules else source, node, scope)
    return imports, broken


def import_graph(modules: dict[str, Path], source_root: Path = SOURCE_ROOT) -> tuple[list[Import], list[str]]:
    imports, broken = [], []
    for name in sorted(modules):
        found, bad = resolve_imports(name, modules, source_root)
        imports += found
        broken += bad
    return imports, broken


# --- floors -------------------------------------------------------------------------------

def floor_of(module: str) -> int | None:
    """The floor of the most specific table entry covering ``module``, or None."""
    best, best_length = None, -1
    for floor, entries in FLOORS.items():
        for entry in entries:
            covers = module == entry or (entry != PACKAGE and module.startswith(entry + "."))
            if covers and len(entry) > best_length:
                best, best_length = floor, len(entry)
    return best


def unfloored(modules) -> list[str]:
    return sorted(module for module in modules if floor_of(module) is None)


def upward_imports(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        low, high = floor_of(imp.importer), floor_of(imp.imported)
        if low is not None and high is not None and high > low:
            problems.append(f"upward import, floor {low} -> floor {high}: {imp}")
    return problems


# --- circles ------------------------------------------------------------------------------

def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted; only knots of 2+."""
    index, low, on_stack, stack, components, counter = {}, {}, set(), [], [], [0]

    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter[0]
                    counter[0] += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def _shortest_path(graph, start, goal, allowed):
    previous, queue = {start: None}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            while node is not None:
                path.append(node)
                node = previous[node]
            return path[::-1]
        for succ in sorted(graph[node]):
            if succ in allowed and succ not in previous:
                previous[succ] = node
                queue.append(succ)
    return None


def import_cycles(imports: list[Import]) -> list[str]:
    """One message per knot of modules that import each other in a circle.

    For each knot it names the members and, for every import edge inside it, the shortest
    circle through that edge, so every import that holds the knot together is shown once.
    """
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], list[str]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, set()).add(imp.imported)
        graph.setdefault(imp.imported, set())
        where.setdefault((imp.importer, imp.imported), []).append(f"{imp.where}, {imp.scope}")
    messages = []
    for component in strongly_connected(graph):
        members = set(component)
        circles = set()
        for a in component:
            for b in sorted(graph[a] & members):
                back = _shortest_path(graph, b, a, members)
                circle = [a] + back[:-1]
                turn = circle.index(min(circle))
                circles.add(tuple(circle[turn:] + circle[:turn]))
        lines = [f"import circle among {len(component)} modules: {', '.join(component)}"]
        for circle in sorted(circles, key=lambda c: (len(c), c)):
            lines.append("    circle: " + " -> ".join(circle + (circle[0],)))
        lines.append("  the imports inside it:")
        for a in component:
            for b in sorted(graph[a] & members):
                lines.append(f"    {a} -> {b}  ({'; '.join(where[a, b])})")
        messages.append("\n".join(lines))
    return messages


# --- the tests ----------------------------------------------------------------------------

def test_imports_keep_to_their_floors_without_circles():
    modules = discover_modules()
    assert PACKAGE in modules, f"no package at {SOURCE_ROOT / PACKAGE}"
    imports, broken = import_graph(modules)
    assert imports, "no import between package modules found: the import reader is broken"
    sections = {
        "modules on disk with no floor (add them to FLOORS)": unfloored(modules),
        "imports of package modules that do not exist": broken,
        "imports that run upward (a module may import its own floor or below)": upward_imports(imports),
        "import circles (deferred imports inside functions count)": import_cycles(imports),
    }
    report = [f"{title}: {len(problems)}\n" + "\n".join(f"  {problem}" for problem in problems)
              for title, problems in sections.items() if problems]
    if report:
        pytest.fail("architecture violations\n\n" + "\n\n".join(report), pytrace=False)


def test_floor_table_covers_every_module_file():
    modules = discover_modules()
    names = [entry for entries in FLOORS.values() for entry in entries]
    assert sorted(FLOORS) == list(range(len(FLOORS))), "floors must be numbered 0, 1, 2, ... without gaps"
    assert len(names) == len(set(names)), "a module is named on two floors"
    assert floor_of(PACKAGE) == max(FLOORS), "the package __init__ is the front door, the top floor"
    missing = unfloored(modules)
    if missing:
        pytest.fail("module files under src/neuronet with no floor in FLOORS (give each one):\n"
                    + "\n".join(f"  {m}  ({modules[m].relative_to(SOURCE_ROOT.parent)})" for m in missing),
                    pytrace=False)
