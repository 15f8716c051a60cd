"""The architecture of runlite, checked by reading its source with ``ast`` (nothing is imported).

Each rule has a checker: a function from the parsed package to a list of violations, each one
starting with ``file:line:`` and saying which rule it breaks. ``test_rule[...]`` runs the
checkers on the real tree; the ``test_checker_*`` tests run them on small planted trees, so a
checker that silently finds nothing cannot pass for a clean tree.
``python tests/test_architecture.py`` prints every violation, grouped by rule.

The rules:

1. No import cycles between runlite modules. Every import counts, lazy imports inside
   functions included, and ``_lazy.module("runlite.x")`` (a module imported at its first
   use) as a lazy import of ``runlite.x``; imports under ``if TYPE_CHECKING:`` do not (they
   never run).
   ``from . import x`` imports the submodule ``x`` when there is one; a name imported from a
   package counts as importing that package's ``__init__.py``. (The ``__init__.py`` files
   Python runs on the way to a submodule are not counted: keep them thin.)
2. ``apsw`` is imported only under ``runlite/storage/``, and SQL text lives only there.
   Outside ``storage/`` no string may hold an SQL statement (``SELECT ... FROM``,
   ``INSERT INTO``, ``UPDATE t SET``, ``DELETE FROM``, ``CREATE TABLE/INDEX/TRIGGER/VIEW``,
   ``PRAGMA x``, ...: ``SQL_STATEMENT``) nor, outside ``query/``, an SQL clause
   (``WHERE col = ?``, ``ORDER BY col``, ...: ``SQL_CLAUSE``). ``query/`` compiles filters
   to SQL expressions and may hold those, subqueries such as ``EXISTS (SELECT 1 FROM ...)``
   included, but no statement. SQL keywords are matched in upper case only (runlite writes
   SQL so), and docstrings are not checked, so prose may mention SQL.
3. Nothing imports ``runlite.cli`` (the package or any of its modules) except
   ``runlite/__main__.py`` and the modules of ``runlite/cli/`` themselves.
4. No reach-ins: ``obj._name`` (a private, non-dunder attribute) only on ``self``, ``cls`` or
   ``super()``, or when ``_name`` is defined in the same module (any other module's
   privates count, the standard library's too); and no ``from <runlite module> import _name``
   of a private name. Private *modules* (``from .. import _validation``,
   ``from .._ids import uuid7``) are package-private and fine.
5. No module is over 600 lines.
6. docs/ARCHITECTURE.md has a table with one row per module (first cell the path relative to
   runlite/ in backticks, e.g. ```storage/runs.py```); its last column lists exactly the
   runlite modules that module imports, as paths without .py (``storage/__init__`` for a
   package), comma-separated, or ``-``; marked ``(lazily)`` when imported only inside
   functions and ``(typing)`` when only under ``if TYPE_CHECKING:``. Text after a ``;`` (such
   as third-party imports) is ignored.
"""
from __future__ import annotations

import ast
import collections
import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = REPO / "runlite"
ARCHITECTURE_DOC = REPO / "docs" / "ARCHITECTURE.md"
MAX_LINES = 600

EAGER, LAZY, TYPING = "eager", "lazily", "typing"  # how an import runs; see ImportSites
DOC_MARKS = {EAGER: "", LAZY: " (lazily)", TYPING: " (typing)"}
HOW = {EAGER: "at module level", LAZY: "only inside functions", TYPING: "only under `if TYPE_CHECKING:`"}


# ---------------------------------------------------------------------------------------------
# Parsing the package


@dataclasses.dataclass(frozen=True)
class Module:
    name: str  # dotted: runlite, runlite.storage, runlite.storage.runs
    path: Path
    rel: str  # the file relative to the package root: storage/runs.py, storage/__init__.py
    source: str
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.rel == "__init__.py" or self.rel.endswith("/__init__.py")

    @property
    def key(self) -> str:
        """How docs/ARCHITECTURE.md names it in an imports column: storage/runs, storage/__init__."""
        return self.rel[: -len(".py")]

    @property
    def shown(self) -> str:
        """How failure messages name the file: runlite/storage/runs.py."""
        return f"{self.name.split('.')[0]}/{self.rel}"

    def at(self, line: int) -> str:
        return f"{self.shown}:{line}"


@dataclasses.dataclass(frozen=True)
class Import:
    source: str  # the importing module (dotted)
    target: str  # the imported runlite module (dotted)
    line: int
    kind: str  # EAGER, LAZY (inside a function) or TYPING (under `if TYPE_CHECKING:`)


def load_package(root: Path) -> dict[str, Module]:
    """Every module of the package at ``root``, by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        parts = [root.name, *rel[: -len(".py")].split("/")]
        if parts[-1] == "__init__":
            parts.pop()
        source = path.read_text(encoding="utf-8")
        modules[".".join(parts)] = Module(".".join(parts), path, rel, source, ast.parse(source, str(path)))
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class ImportSites(ast.NodeVisitor):
    """Every import statement of a module with how it runs: EAGER (when the module is imported),
    LAZY (inside a function: when it is called) or TYPING (under ``if TYPE_CHECKING:``: never)."""

    def __init__(self, tree: ast.Module):
        self.found: list[tuple[ast.Import | ast.ImportFrom, str]] = []
        self.kind = EAGER
        self.visit(tree)

    def _inside(self, node: ast.AST, kind: str) -> None:
        outer = self.kind
        self.kind = TYPING if outer == TYPING else kind
        self.generic_visit(node)
        self.kind = outer

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._inside(node, LAZY)

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        outer, self.kind = self.kind, TYPING
        for statement in node.body:
            self.visit(statement)
        self.kind = outer
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.found.append((node, self.kind))

    visit_ImportFrom = visit_Import

    def visit_Call(self, node: ast.Call) -> None:
        """``_lazy.module("runlite.x")``: an import of ``runlite.x`` at its first use (LAZY)."""
        func, args = node.func, node.args
        if (isinstance(func, ast.Attribute) and func.attr == "module" and isinstance(func.value, ast.Name)
                and func.value.id == "_lazy" and len(args) == 1 and isinstance(args[0], ast.Constant)
                and isinstance(args[0].value, str)):
            stands_for = ast.Import(names=[ast.alias(name=args[0].value)])
            ast.copy_location(stands_for, node)
            self.found.append((stands_for, TYPING if self.kind == TYPING else LAZY))
        self.generic_visit(node)


def from_base(module: Module, node: ast.ImportFrom) -> str:
    """The dotted module a ``from X import ...`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1]) if node.level <= len(parts) else ""
    return f"{base}.{node.module}" if base and node.module else base


def import_targets(module: Module, node: ast.Import | ast.ImportFrom, modules: dict) -> list[str]:
    """The runlite modules one import statement imports (third-party and stdlib ones left out).

    ``from P import x`` imports the module ``P.x`` when there is one, else (a name defined in
    ``P``) the module ``P``, which is ``P/__init__.py`` when ``P`` is a package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    base = from_base(module, node)
    if base not in modules:
        return []
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def imports_of(module: Module, modules: dict) -> list[Import]:
    """Every import of another runlite module by ``module``, in source order."""
    return [Import(module.name, target, node.lineno, kind)
            for node, kind in ImportSites(module.tree).found
            for target in import_targets(module, node, modules) if target != module.name]


def package_name(modules: dict) -> str:
    return min(modules, key=len).split(".")[0]


def strongest(sites: list[Import]) -> Import:
    """Of several imports of one module, the one that says most: eager before lazy before typing."""
    order = {EAGER: 0, LAZY: 1, TYPING: 2}
    return min(sites, key=lambda i: (order[i.kind], i.line))


def import_graph(modules: dict, kinds=(EAGER, LAZY)) -> dict[str, dict[str, Import]]:
    """module -> {imported module: the import site shown for that edge}, counting ``kinds``."""
    graph = {}
    for name, module in modules.items():
        sites = collections.defaultdict(list)
        for imp in imports_of(module, modules):
            if imp.kind in kinds:
                sites[imp.target].append(imp)
        graph[name] = {target: strongest(found) for target, found in sites.items()}
    return graph


# ---------------------------------------------------------------------------------------------
# Rule 1: no import cycles


def _shortest_path(graph: dict, start: str, goal: str) -> list[str] | None:
    previous = {start: None}
    queue = collections.deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            while node is not None:
                path.append(node)
                node = previous[node]
            return path[::-1]
        for nxt in sorted(graph.get(node, ())):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return None


def find_cycles(modules: dict) -> list[str]:
    """One shortest cycle through every import edge that lies on a cycle (duplicates dropped)."""
    graph = import_graph(modules)
    cycles = set()
    for source in graph:
        for target in graph[source]:
            back = _shortest_path(graph, target, source)
            if back:
                cycle = [source, *back[:-1]]
                i = cycle.index(min(cycle))
                cycles.add(tuple(cycle[i:] + cycle[:i]))
    found = []
    for cycle in sorted(cycles, key=lambda c: (len(c), c)):
        hops = list(zip(cycle, cycle[1:] + cycle[:1]))
        lines = [f"import cycle: {' -> '.join(modules[m].key for m in (*cycle, cycle[0]))}"]
        for a, b in hops:
            imp = graph[a][b]
            how = " (lazily, inside a function)" if imp.kind == LAZY else ""
            lines.append(f"    {modules[a].at(imp.line)}: {modules[a].key} imports {modules[b].key}{how}")
        found.append("\n".join(lines))
    return found


# ---------------------------------------------------------------------------------------------
# Rule 2: apsw and SQL stay in storage/

# Statements, matched anywhere in a string. Upper-case keywords only.
SQL_STATEMENT = re.compile(r"""
      \bSELECT\b [\s\S]*? \bFROM\b
    | \b(INSERT|REPLACE) \s+ (OR\s+[A-Z]+\s+)? INTO\b
    | \bUPDATE \s+ (OR\s+[A-Z]+\s+)? \S+ \s+ SET\b
    | \bDELETE \s+ FROM\b
    | \bCREATE \s+ ((UNIQUE|TEMP|TEMPORARY|VIRTUAL) \s+)? (TABLE|INDEX|TRIGGER|VIEW)\b
    | \bDROP \s+ (TABLE|INDEX|TRIGGER|VIEW)\b
    | \bALTER \s+ TABLE\b
    | \bPRAGMA \s+ [A-Za-z_]\w*
    | \bATTACH \s+ (DATABASE \s+)? \S+ \s+ AS\b
    | \bDETACH \s+ (DATABASE \s+)? \w+
    | \bWITH \s+ (RECURSIVE \s+)? \w+ \s+ AS \s* \(
    | \bVACUUM \s+ INTO\b
    | \bBEGIN \s+ (DEFERRED|IMMEDIATE|EXCLUSIVE)\b
    | \bROLLBACK \s+ TO\b
    | \A \s* (BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|VACUUM|ANALYZE|REINDEX) \b
""", re.VERBOSE)

# Clauses: SQL pieces that are not statements on their own (checked outside query/ only).
SQL_CLAUSE = re.compile(r"""
      \bWHERE \s+ [\w.()]+ \s* (=|!=|<>|<=|>=|<|>|\bIN\b|\bIS\b|\bLIKE\b|\bGLOB\b|\bBETWEEN\b)
    | \b(ORDER|GROUP) \s+ BY \s+ [\w.]+
    | \bJOIN \s+ \w+ \s+ (AS \s+ \w+ \s+)? ON\b
    | \bVALUES \s* \( \s* [?:]
""", re.VERBOSE)


def _under(module: Module, folder: str) -> bool:
    return module.rel.startswith(folder + "/")


def _operands(node: ast.expr) -> list[ast.expr]:
    """The operands of a ``+`` chain (``a + b + c``), or ``[node]``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _operands(node.left) + _operands(node.right)
    return [node]


def _literal_text(node: ast.expr) -> str | None:
    """The text of a str literal or an f-string (``{}`` where its values go), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, text)`` of the strings of a module. A ``+`` chain holding a literal is read as one
    string, with ``{}`` for its other operands. Docstrings, and other strings standing alone as
    statements, are left out."""
    found = []

    def visit(node):
        if isinstance(node, ast.Expr) and _literal_text(node.value) is not None:
            return  # a docstring, or a string used as a comment
        if isinstance(node, ast.expr):
            texts = [_literal_text(part) for part in _operands(node)]
            if any(t is not None for t in texts):
                found.append((node.lineno, "".join("{}" if t is None else t for t in texts)))
                for part, text in zip(_operands(node), texts):
                    if text is None:
                        visit(part)  # e.g. a call whose arguments hold strings
                return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def sql_in(text: str, *, in_query: bool) -> str | None:
    """The SQL a string holds that its module may not hold, or None.

    In query/ a ``SELECT ... FROM`` with text before it in the string is a subquery inside an
    expression (``EXISTS (SELECT 1 FROM ...)``) and allowed; every other statement is not."""
    for match in SQL_STATEMENT.finditer(text):
        subquery = match.group().startswith("SELECT") and text[: match.start()].strip()
        if not (in_query and subquery):
            return match.group()
    match = None if in_query else SQL_CLAUSE.search(text)
    return match.group() if match else None


def _excerpt(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def find_apsw_outside_storage(modules: dict) -> list[str]:
    found = []
    for module in modules.values():
        if _under(module, "storage"):
            continue
        for node, _ in ImportSites(module.tree).found:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if not node.level else [])
            if any(n == "apsw" or n.startswith("apsw.") for n in names):
                found.append(f"{module.at(node.lineno)}: imports apsw; only runlite/storage/ may "
                             "(call a storage/ function instead)")
    return found


def find_sql_outside_storage(modules: dict) -> list[str]:
    found = []
    for module in modules.values():
        if _under(module, "storage"):
            continue
        in_query = _under(module, "query")
        for line, text in string_literals(module.tree):
            sql = sql_in(text, in_query=in_query)
            if sql:
                what = "an SQL statement; query/ may hold SQL expressions only" if in_query else (
                    "SQL; SQL lives in runlite/storage/ (or, as expressions, in query/)")
                found.append(f"{module.at(line)}: string holds {what}: {_excerpt(text)} "
                             f"(matched {_excerpt(sql, 30)})")
    return found


# ---------------------------------------------------------------------------------------------
# Rule 3: nothing imports the command line


def find_cli_imports(modules: dict) -> list[str]:
    cli = package_name(modules) + ".cli"

    def in_cli(name: str) -> bool:
        return name == cli or name.startswith(cli + ".")

    return [f"{module.at(imp.line)}: imports {imp.target.split('.', 1)[1]}; only __main__.py and cli's own "
            "modules may (cli sits on top of the public API: move what you need out of cli)"
            for module in modules.values() if module.rel != "__main__.py" and not in_cli(module.name)
            for imp in imports_of(module, modules) if in_cli(imp.target)]


# ---------------------------------------------------------------------------------------------
# Rule 4: no reach-ins


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _same_scope(node: ast.AST):
    """The nodes of ``node``'s scope: functions and classes inside are yielded, not entered."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            yield from _same_scope(child)


def _bound_names(scope: ast.AST) -> set[str]:
    """Names bound directly in a module or class body (assignments, defs, classes, imports)."""
    names = set()
    for node in _same_scope(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _is_self(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id in ("self", "cls")) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super")


def defined_names(tree: ast.Module) -> set[str]:
    """Names a module defines: top-level names, class attributes and methods, ``__slots__``,
    and attributes it assigns on ``self``/``cls`` (also via ``setattr``/``object.__setattr__``)."""
    names = _bound_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            names |= _bound_names(node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__"
                                                  for t in node.targets):
            names.update(e.value for e in ast.walk(node.value)
                         if isinstance(e, ast.Constant) and isinstance(e.value, str))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _is_self(node.value):
            names.add(node.attr)
        elif (isinstance(node, ast.Call) and len(node.args) >= 2 and _is_self(node.args[0])
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and ast.unparse(node.func) in ("setattr", "object.__setattr__")):
            names.add(node.args[1].value)
    return names


def find_reach_ins(modules: dict) -> list[str]:
    found = []
    for module in modules.values():
        own, here = defined_names(module.tree), []
        for node in sorted((n for n in ast.walk(module.tree) if hasattr(n, "lineno")),
                           key=lambda n: (n.lineno, n.col_offset)):
            if (isinstance(node, ast.Attribute) and is_private(node.attr) and not _is_self(node.value)
                    and node.attr not in own):
                here.append(f"{module.at(node.lineno)}: reaches into {ast.unparse(node)}: "
                             f"{node.attr} is private to another module (make it public there, or "
                             "ask that module for what you need)")
            elif isinstance(node, ast.ImportFrom):
                base = from_base(module, node)
                if base not in modules:
                    continue
                for alias in node.names:
                    if is_private(alias.name) and f"{base}.{alias.name}" not in modules:
                        here.append(f"{module.at(node.lineno)}: imports the private name {alias.name} "
                                     f"from {modules[base].key} (make it public there, or move it)")
        found += here
    return found


# ---------------------------------------------------------------------------------------------
# Rule 5: small modules


def find_long_modules(modules: dict) -> list[str]:
    return [f"{module.at(MAX_LINES + 1)}: {module.shown} has {n} lines, over the limit of "
            f"{MAX_LINES}: split it by responsibility"
            for module in modules.values() if (n := len(module.source.splitlines())) > MAX_LINES]


# ---------------------------------------------------------------------------------------------
# Rule 6: docs/ARCHITECTURE.md maps every module and its imports

DOC_ITEM = re.compile(r"`?(?P<key>[\w/]+)`?(\s+\((?P<mark>lazily|typing)\))?")
DOC_ROW_HELP = ("one row per module: | `storage/runs.py` | what it does | its imports |, the imports "
                "as module paths without .py, comma-separated (e.g. `storage/connection, errors, "
                "store (lazily)`), or `-` for none; anything after a `;` is ignored")


def _cells(line: str) -> list[str] | None:
    line = line.strip()
    if not line.startswith("|"):
        return None
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]


def module_table(text: str) -> list[tuple[int, list[str]]] | None:
    """``(line number, cells)`` of the rows of the first table whose last column is "imports"."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        header, rule = _cells(line), lines[i + 1].replace("|", "").strip()
        if header and header[-1].lower().startswith("imports") and rule and set(rule) <= set("-: "):
            rows = []
            for number, row in enumerate(lines[i + 2:], start=i + 3):
                if _cells(row) is None:
                    break
                rows.append((number, _cells(row)))
            return rows
    return None


def documented_imports(cell: str) -> dict[str, str] | None:
    """{module key: EAGER/LAZY/TYPING} from an imports cell; None when it cannot be read."""
    listed = cell.split(";", 1)[0].strip()
    if listed == "-":
        return {}
    result = {}
    for item in listed.split(","):
        match = DOC_ITEM.fullmatch(item.strip())
        if not match:
            return None
        result[match["key"]] = {None: EAGER, "lazily": LAZY, "typing": TYPING}[match["mark"]]
    return result


def expected_cell(module: Module, modules: dict) -> str:
    imports = found_imports(module, modules)
    return ", ".join(f"{key}{DOC_MARKS[imp.kind]}" for key, imp in sorted(imports.items())) or "-"


def found_imports(module: Module, modules: dict) -> dict[str, Import]:
    """{module key: the import that says most} of what ``module`` imports."""
    sites = collections.defaultdict(list)
    for imp in imports_of(module, modules):
        sites[modules[imp.target].key].append(imp)
    return {key: strongest(found) for key, found in sites.items()}


def _compare_row(module: Module, where: str, documented: dict, modules: dict) -> list[str]:
    found, row = found_imports(module, modules), f"`{module.rel}`"
    problems = []
    for key in sorted(documented.keys() - found.keys()):
        problems.append(f"{where}: {row} lists {key}, which {module.shown} does not import")
    for key in sorted(found.keys() - documented.keys()):
        imp = found[key]
        problems.append(f"{where}: {row} does not list {key}{DOC_MARKS[imp.kind]}, which "
                        f"{module.at(imp.line)} imports")
    for key in sorted(found.keys() & documented.keys()):
        imp, listed = found[key], documented[key]
        if imp.kind != listed:
            problems.append(f"{where}: {row} lists {key}{DOC_MARKS[listed]} but "
                            f"{module.at(imp.line)} imports it {HOW[imp.kind]}: write {key}{DOC_MARKS[imp.kind]}")
    if problems:
        problems.append(f"{where}: {row} imports cell should read: {expected_cell(module, modules)}")
    return problems


def check_architecture_map(modules: dict, doc: Path) -> list[str]:
    """docs/ARCHITECTURE.md has a table with a row per module, and every row's last cell lists
    exactly the runlite modules that module imports (paths relative to runlite/ without .py;
    packages as ``storage/__init__``), marked ``(lazily)`` when imported only inside functions
    and ``(typing)`` when only under ``if TYPE_CHECKING:``."""
    shown = f"{doc.parent.name}/{doc.name}"
    rows = module_table(doc.read_text(encoding="utf-8"))
    if rows is None:
        return [f"{shown}: no module table (a table whose last column is 'imports'): {DOC_ROW_HELP}"]
    by_rel = {module.rel: module for module in modules.values()}
    problems, seen = [], {}
    for number, cells in rows:
        where = f"{shown}:{number}"
        match = re.fullmatch(r"`([\w/]+\.py)`", cells[0])
        if not match:
            problems.append(f"{where}: first cell {cells[0]!r} is not a module path in backticks: {DOC_ROW_HELP}")
            continue
        rel = match[1]
        if rel in seen:
            problems.append(f"{where}: `{rel}` has a second row (the first is line {seen[rel]})")
            continue
        seen[rel] = number
        if rel not in by_rel:
            problems.append(f"{where}: row `{rel}` names no module (there is no "
                            f"{package_name(modules)}/{rel}): remove or rename the row")
            continue
        documented = documented_imports(cells[-1]) if len(cells) > 1 else None
        if documented is None:
            problems.append(f"{where}: cannot read the imports cell {cells[-1]!r}: {DOC_ROW_HELP}; "
                            f"for `{rel}` write: {expected_cell(by_rel[rel], modules)}")
            continue
        problems += _compare_row(by_rel[rel], where, documented, modules)
    for rel in sorted(by_rel.keys() - seen.keys()):
        problems.append(f"{shown}: no row for {by_rel[rel].shown}: add "
                        f"| `{rel}` | what it does | {expected_cell(by_rel[rel], modules)} |")
    return problems


def check_the_architecture_doc(modules: dict) -> list[str]:
    return check_architecture_map(modules, ARCHITECTURE_DOC)


# ---------------------------------------------------------------------------------------------
# The rules on the real tree

RULES = {  # rule (as failure messages state it) -> checker
    "import cycles between runlite modules (lazy imports inside functions count, `if TYPE_CHECKING:` "
    "imports do not); break each by moving the shared code to a lower module or passing objects in":
        find_cycles,
    "apsw imported outside runlite/storage/": find_apsw_outside_storage,
    "SQL text outside runlite/storage/ (runlite/query/ may hold SQL expressions, not statements; "
    "docstrings are not checked)": find_sql_outside_storage,
    "modules importing runlite.cli (only runlite/__main__.py may)": find_cli_imports,
    "reach-ins: private names (_name) of another module used or imported": find_reach_ins,
    f"modules over {MAX_LINES} lines": find_long_modules,
    "docs/ARCHITECTURE.md must map every module and its runlite imports": check_the_architecture_doc,
}


def all_violations(modules: dict) -> list[str]:
    """Every violation of the real tree, grouped by rule (what /tmp/arch_violations.txt holds)."""
    report = []
    for rule, check in RULES.items():
        found = check(modules)
        report.append(f"== {rule}: {len(found)}")
        report += found
    return report


@pytest.fixture(scope="module")
def runlite_modules() -> dict[str, Module]:
    return load_package(PACKAGE_ROOT)


def _fail_on(found: list[str], rule: str) -> None:
    if found:
        pytest.fail(f"{len(found)} violation(s) of the rule: {rule}\n" + "\n".join(found), pytrace=False)


@pytest.mark.parametrize("rule", list(RULES), ids=[c.__name__ for c in RULES.values()])
def test_rule(runlite_modules, rule):
    _fail_on(RULES[rule](runlite_modules), rule)


def test_the_package_is_found(runlite_modules):
    assert {"runlite", "runlite.store", "runlite.storage"} <= runlite_modules.keys()


# ---------------------------------------------------------------------------------------------
# The checkers on planted trees


def plant(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    """A package ``runlite`` under ``tmp_path`` with these files (``__init__.py`` files added)."""
    root = tmp_path / "runlite"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        if not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("", encoding="utf-8")
    return load_package(root)


def test_checker_resolves_imports(tmp_path):
    modules = plant(tmp_path, {
        "errors.py": "",
        "storage/runs.py": "",
        "storage/__init__.py": "HELPER = 1\n",
        "user.py": """\
            import json
            import runlite.errors
            from . import __version__
            from .storage import runs, HELPER
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from .storage.runs import X
            def later():
                from . import errors
        """,
        "storage/deep.py": "from ..errors import E\nfrom . import runs\n",
    })
    got = {(i.target, i.line, i.kind) for i in imports_of(modules["runlite.user"], modules)}
    assert got == {("runlite.errors", 2, EAGER), ("runlite", 3, EAGER), ("runlite.storage.runs", 4, EAGER),
                   ("runlite.storage", 4, EAGER), ("runlite.storage.runs", 7, TYPING),
                   ("runlite.errors", 9, LAZY)}
    assert {i.target for i in imports_of(modules["runlite.storage.deep"], modules)} == {
        "runlite.errors", "runlite.storage.runs"}


def test_checker_finds_a_planted_cycle(tmp_path):
    modules = plant(tmp_path, {
        "a.py": "from . import b\n",
        "b.py": "from .c import f\n",
        "c.py": "def f():\n    from .a import g\n",
        "d.py": "from . import a\n",  # imports into the cycle, is not on it
    })
    (cycle,) = find_cycles(modules)
    assert cycle.splitlines() == ["import cycle: a -> b -> c -> a",
                                  "    runlite/a.py:1: a imports b",
                                  "    runlite/b.py:1: b imports c",
                                  "    runlite/c.py:2: c imports a (lazily, inside a function)"]


def test_checker_reports_each_cycle_and_ignores_type_checking_imports(tmp_path):
    modules = plant(tmp_path, {
        "a.py": "from . import b, c, e\n",
        "b.py": "from . import a\n",
        "c.py": "import runlite.a\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n",
        "e.py": "from . import d\n",  # a -> e -> d -> a only through a TYPE_CHECKING import
    })
    assert [c.splitlines()[0] for c in find_cycles(modules)] == [
        "import cycle: a -> b -> a", "import cycle: a -> c -> a"]


def test_checker_finds_planted_apsw_imports(tmp_path):
    modules = plant(tmp_path, {
        "cli.py": "import apsw\n",
        "ui/view.py": "def f():\n    from apsw import ext\n",
        "storage/connection.py": "import apsw\nimport apsw.ext\n",
        "other.py": "import apswx\n",
    })
    assert [v.split(": ")[0] for v in find_apsw_outside_storage(modules)] == [
        "runlite/cli.py:1", "runlite/ui/view.py:2"]


def test_checker_flags_sql_statements_and_not_prose(tmp_path):
    modules = plant(tmp_path, {
        "a.py": '''\
            """Reads runs: SELECT id FROM runs WHERE name = ? is what it does. INSERT INTO too."""
            def f(col, where):
                """Like UPDATE runs SET x = ?, DELETE FROM runs: docstrings may say so."""
                "a string standing alone: SELECT * FROM runs"
                help = "one SELECT statement; select the runs from the list; order by name"
                message = "delete from the store, insert into the list, update the table set"
                q1 = "SELECT id FROM runs WHERE name = ?"
                q2 = f"UPDATE runs SET {col} = ? WHERE id = ?"
                q3 = "SELECT " + col + " FROM runs"
                q4 = " WHERE runs.id = ?"
                q5 = ("CREATE INDEX IF NOT EXISTS i "
                      "ON runs(name)")
                q6 = "PRAGMA user_version"
                q7 = "BEGIN IMMEDIATE"
                return print("DELETE FROM runs WHERE " + where)
        ''',
        "query/compile.py": '''\
            TAGS = "EXISTS (SELECT 1 FROM run_tags AS t WHERE t.run_id = runs.id AND t.tag = ?)"
            def f(alias):
                ok = f"({alias}.created >= ? AND {alias}.status IN (?, ?))"
                join = "run_alerts AS ra JOIN alerts AS al ON al.id = ra.alert_id"
                bad = "SELECT id FROM runs WHERE " + ok
                worse = "DELETE FROM runs"
        ''',
        "storage/runs.py": 'Q = "SELECT id FROM runs"\nP = "PRAGMA foreign_keys = ON"\n',
    })
    found = [v.split(": ")[0] for v in find_sql_outside_storage(modules)]
    assert found == [f"runlite/a.py:{n}" for n in (7, 8, 9, 10, 11, 13, 14, 15)] + [
        "runlite/query/compile.py:5", "runlite/query/compile.py:6"]


def test_checker_finds_planted_cli_imports(tmp_path):
    modules = plant(tmp_path, {
        "cli.py": "def main(): pass\n",
        "__main__.py": "from .cli import main\n",
        "ui/viewer.py": "def f():\n    from .. import cli\n",
        "demo.py": "import runlite.cli\n",
    })
    assert [v.split(": ")[0] for v in find_cli_imports(modules)] == ["runlite/demo.py:1", "runlite/ui/viewer.py:2"]


def test_checker_finds_planted_imports_of_a_cli_package(tmp_path):
    modules = plant(tmp_path, {
        "cli/__init__.py": "from .main import main\n",
        "cli/main.py": "from . import output\nfrom .output import table\nfrom .. import errors\n",
        "cli/output.py": "def table(): pass\n",
        "cli/__main__.py": "from .main import main\n",
        "__main__.py": "from .cli import main\n",
        "errors.py": "",
        "ui/report.py": "from ..cli.output import table\n",
        "demo.py": "def f():\n    from .cli import main\n",
        "store.py": "import runlite.cli.main\n",
    })
    found = find_cli_imports(modules)
    assert [v.split(": ")[0] for v in found] == ["runlite/demo.py:2", "runlite/store.py:1", "runlite/ui/report.py:1"]
    assert "imports cli.output;" in found[2]


def test_checker_finds_planted_reach_ins(tmp_path):
    modules = plant(tmp_path, {
        "_ids.py": "def uuid7(): pass\n",
        "owner.py": "_CACHE = {}\ndef _helper(): pass\nclass Thing:\n    def __init__(self):\n        self._x = 1\n",
        "user.py": """\
            from . import _ids, owner
            from ._ids import uuid7
            from .owner import _helper
            _TOP = 1
            class Mine:
                __slots__ = ("_slot",)
                _attr = 2
                def _method(self): pass
                def __init__(self, other):
                    self._own = 1
                    object.__setattr__(self, "_set", 2)
                    super()._base()
                    cls = type(self)
                    cls._z
                    other._own, other._attr, other._method, other._slot, other._set, other._TOP
                    other.__dict__
                    owner._CACHE
                    other._x
        """,
    })
    assert [v.split(": ", 2)[:2] for v in find_reach_ins(modules)] == [
        ["runlite/user.py:3", "imports the private name _helper from owner (make it public there, or move it)"],
        ["runlite/user.py:17", "reaches into owner._CACHE"],
        ["runlite/user.py:18", "reaches into other._x"],
    ]


def test_checker_finds_long_modules(tmp_path):
    modules = plant(tmp_path, {"ok.py": "x = 1\n" * MAX_LINES, "long.py": "x = 1\n" * (MAX_LINES + 1)})
    assert [v.split(": ")[0] for v in find_long_modules(modules)] == [f"runlite/long.py:{MAX_LINES + 1}"]


PLANTED_DOC_TREE = {
    "errors.py": "",
    "store.py": "from . import errors\ndef f():\n    from .run import Run\n",
    "run.py": "from . import errors\nimport json\n",
    "storage/runs.py": "from ..errors import E\nfrom . import schema\n",
    "storage/schema.py": "",
}


def _write_doc(tmp_path: Path, rows: list[str]) -> Path:
    doc = tmp_path / "docs" / "ARCHITECTURE.md"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text("# map\n\n| module | responsibility | imports |\n|---|---|---|\n" + "\n".join(rows) + "\n\ntext\n")
    return doc


def test_checker_accepts_an_exact_architecture_map(tmp_path):
    modules = plant(tmp_path, PLANTED_DOC_TREE)
    doc = _write_doc(tmp_path, [
        "| `__init__.py` | the face | - |",
        "| `errors.py` | errors | - |",
        "| `store.py` | Store | errors, run (lazily) |",
        "| `run.py` | Run | `errors`; json |",
        "| `storage/__init__.py` | package | - |",
        "| `storage/runs.py` | runs | storage/schema, errors |",
        "| `storage/schema.py` | DDL | - ; apsw |",
    ])
    assert check_architecture_map(modules, doc) == []


def test_checker_lists_every_architecture_map_mismatch(tmp_path):
    modules = plant(tmp_path, PLANTED_DOC_TREE)
    doc = _write_doc(tmp_path, [
        "| `__init__.py` | the face | - |",
        "| `errors.py` | errors | ids |",  # lists what it does not import
        "| `store.py` | Store | errors, run |",  # (lazily) missing
        "| `run.py` | Run | - (takes a Store) |",  # unreadable
        "| `run.py` | Run again | errors |",  # second row
        "| `storage/runs.py` | runs | errors (lazily) |",  # mark wrong, storage/schema missing
        "| `ids.py` | gone | - |",  # no such module
        "| ids | not a path | - |",
    ])
    problems = check_architecture_map(modules, doc)
    assert problems == [
        "docs/ARCHITECTURE.md:6: `errors.py` lists ids, which runlite/errors.py does not import",
        "docs/ARCHITECTURE.md:6: `errors.py` imports cell should read: -",
        "docs/ARCHITECTURE.md:7: `store.py` lists run but runlite/store.py:3 imports it only inside functions: write run (lazily)",
        "docs/ARCHITECTURE.md:7: `store.py` imports cell should read: errors, run (lazily)",
        "docs/ARCHITECTURE.md:8: cannot read the imports cell '- (takes a Store)': " + DOC_ROW_HELP
        + "; for `run.py` write: errors",
        "docs/ARCHITECTURE.md:9: `run.py` has a second row (the first is line 8)",
        "docs/ARCHITECTURE.md:10: `storage/runs.py` does not list storage/schema, which runlite/storage/runs.py:2 imports",
        "docs/ARCHITECTURE.md:10: `storage/runs.py` lists errors (lazily) but runlite/storage/runs.py:1 imports it "
        "at module level: write errors",
        "docs/ARCHITECTURE.md:10: `storage/runs.py` imports cell should read: errors, storage/schema",
        "docs/ARCHITECTURE.md:11: row `ids.py` names no module (there is no runlite/ids.py): remove or rename the row",
        "docs/ARCHITECTURE.md:12: first cell 'ids' is not a module path in backticks: " + DOC_ROW_HELP,
        "docs/ARCHITECTURE.md: no row for runlite/storage/__init__.py: add | `storage/__init__.py` | what it does | - |",
        "docs/ARCHITECTURE.md: no row for runlite/storage/schema.py: add | `storage/schema.py` | what it does | - |",
    ]


if __name__ == "__main__":  # python tests/test_architecture.py: every violation of the tree, by rule
    print("\n".join(all_violations(load_package(PACKAGE_ROOT))))
