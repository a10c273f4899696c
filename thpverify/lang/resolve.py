"""Files, imports, scopes, version inheritance and patches.

`load(paths)` reads spec files (following imports), gathers declarations into
the global vocabulary and into versions, applies each version's patches to
the predicates it inherits, and hands the result to the type checker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import nodes as n
from .diagnostics import Diagnostic, SpecError, did_you_mean
from .parser import parse_text

FunctionDecl = n.PredicateDecl | n.DefDecl | n.ContextDecl


@dataclass
class RawFunction:
    decl: FunctionDecl
    home: str  # the version that wrote it; "" for the vocabulary
    body: n.Block | None = None  # the predicate body after patches
    homes: dict[int, str] = field(default_factory=dict)  # id(stmt) -> version that wrote it


@dataclass
class RawVersion:
    decl: n.VersionDecl
    meta: dict[str, str]
    functions: dict[str, RawFunction]
    assumptions: list[tuple[n.AssumeDecl, str]]
    order: int


@dataclass
class Scopes:
    universes: dict[str, n.UniverseDecl] = field(default_factory=dict)
    consts: dict[str, n.ConstDecl] = field(default_factory=dict)
    atoms: dict[str, n.AtomDecl] = field(default_factory=dict)
    functions: dict[str, RawFunction] = field(default_factory=dict)
    assumptions: list[tuple[n.AssumeDecl, str]] = field(default_factory=list)
    versions: dict[str, RawVersion] = field(default_factory=dict)
    properties: dict[str, n.PropertyDecl] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)


META_KEYS = ("release", "repository", "commit", "date", "url", "note", "summary", "title")


def spec_files(paths: list[Path]) -> list[Path]:
    """The .thp files named, and those inside named directories, sorted."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(p.rglob("*.thp")))
        else:
            found.append(p)
    return found


def load(paths: list[Path], display_root: Path | None = None) -> Scopes:
    """Read, parse and gather every file; raise SpecError with all problems."""
    scopes = Scopes()
    problems: list[Diagnostic] = []
    parsed: list[n.SpecFile] = []
    seen: set[Path] = set()
    queue: list[tuple[Path, n.Import | None]] = [(p, None) for p in spec_files(paths)]
    while queue:
        path, importer = queue.pop(0)
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        shown = _display(path, display_root)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            where = importer.span if importer else n.Span(shown, 0, 0, 0, 0)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(Diagnostic(where, "E010", f"cannot read {shown}: {reason}"))
            continue
        scopes.sources[shown] = text
        scopes.paths[shown] = str(real)
        scopes.files.append(shown)
        try:
            spec = parse_text(text, shown)
        except SpecError as exc:
            problems.extend(exc.diagnostics)
            continue
        parsed.append(spec)
        for decl in spec.decls:
            if isinstance(decl, n.Import):
                queue.append((path.parent / decl.path, decl))
    if problems:
        raise SpecError(problems)
    for spec in parsed:
        _gather(spec, scopes, problems)
    _build_versions(scopes, problems)
    if problems:
        raise SpecError(problems)
    return scopes


def _display(path: Path, root: Path | None) -> str:
    """A path as shown in messages: under root if given, else under the working directory."""
    for base in (root, Path.cwd()):
        if base is not None:
            try:
                return str(path.resolve().relative_to(base.resolve()))
            except ValueError:
                pass
    return str(path)


def _gather(spec: n.SpecFile, scopes: Scopes, problems: list[Diagnostic]) -> None:
    taken: dict[str, n.Span] = {}
    for table in (scopes.universes, scopes.consts, scopes.atoms, scopes.functions):
        for name, item in table.items():
            taken[name] = item.decl.span if isinstance(item, RawFunction) else item.span

    def claim(name: str, span: n.Span, what: str) -> bool:
        if name in taken:
            problems.append(Diagnostic(span, "E011", f"{what} '{name}' is already declared at {taken[name]}"))
            return False
        taken[name] = span
        return True

    for decl in spec.decls:
        if isinstance(decl, n.UniverseDecl) and claim(decl.name, decl.span, "universe"):
            scopes.universes[decl.name] = decl
        elif isinstance(decl, n.ConstDecl) and claim(decl.name, decl.span, "constant"):
            scopes.consts[decl.name] = decl
        elif isinstance(decl, n.AtomDecl) and claim(decl.name, decl.span, "atom"):
            scopes.atoms[decl.name] = decl
        elif isinstance(decl, (n.DefDecl, n.ContextDecl, n.PredicateDecl)):
            if claim(decl.name, decl.span, "name"):
                scopes.functions[decl.name] = RawFunction(decl, "")
        elif isinstance(decl, n.AssumeDecl):
            if any(a.name == decl.name for a, _ in scopes.assumptions):
                problems.append(Diagnostic(decl.span, "E011", f"assumption '{decl.name}' is already declared"))
            scopes.assumptions.append((decl, "vocabulary"))
        elif isinstance(decl, n.VersionDecl):
            if decl.name in scopes.versions:
                other = scopes.versions[decl.name].decl.span
                problems.append(Diagnostic(decl.span, "E011", f"version '{decl.name}' is already declared at {other}"))
                continue
            scopes.versions[decl.name] = RawVersion(decl, {}, {}, [], len(scopes.versions))
        elif isinstance(decl, n.PropertyDecl):
            if decl.name in scopes.properties:
                other = scopes.properties[decl.name].span
                problems.append(Diagnostic(decl.span, "E011", f"property '{decl.name}' is already declared at {other}"))
                continue
            scopes.properties[decl.name] = decl


def _build_versions(scopes: Scopes, problems: list[Diagnostic]) -> None:
    done: set[str] = set()
    active: list[str] = []

    def build(name: str) -> None:
        if name in done:
            return
        raw = scopes.versions[name]
        decl = raw.decl
        if name in active:
            problems.append(Diagnostic(decl.span, "E012", f"version '{name}' extends itself through {' -> '.join(active)}"))
            return
        active.append(name)
        if decl.base is not None:
            if decl.base not in scopes.versions:
                hint = did_you_mean(decl.base, scopes.versions)
                problems.append(Diagnostic(decl.span, "E013", f"unknown base version '{decl.base}'", hint))
            else:
                build(decl.base)
                base = scopes.versions[decl.base]
                raw.meta.update(base.meta)
                raw.functions.update(base.functions)
                raw.assumptions.extend(base.assumptions)
        _apply_items(raw, scopes, problems)
        active.pop()
        done.add(name)

    for name in list(scopes.versions):
        build(name)
    ordered = sorted(scopes.versions.values(), key=lambda raw: _release_order(raw, scopes.versions))
    scopes.versions = {v.decl.name: v for v in ordered}


def _release_order(raw: RawVersion, versions: dict[str, RawVersion]) -> tuple[tuple[int, ...], int, int]:
    """Release order; a patch on a release comes after the release it patches."""
    release = raw.meta.get("release", "")
    numbers = tuple(int(x) for x in re.findall(r"\d+", release)[:3])
    depth, base = 0, raw.decl.base
    while base in versions and depth < len(versions):
        depth, base = depth + 1, versions[base].decl.base
    return (numbers or (10**6,), depth, raw.order)


def _apply_items(raw: RawVersion, scopes: Scopes, problems: list[Diagnostic]) -> None:
    name = raw.decl.name
    own_meta: set[str] = set()
    for item in raw.decl.items:
        if isinstance(item, n.Meta):
            if item.key not in META_KEYS:
                hint = did_you_mean(item.key, META_KEYS) or "known keys: " + ", ".join(META_KEYS)
                problems.append(Diagnostic(item.span, "E014", f"unknown version attribute '{item.key}'", hint))
            elif item.key in own_meta:
                problems.append(Diagnostic(item.span, "E011", f"'{item.key}' is given twice"))
            own_meta.add(item.key)
            raw.meta[item.key] = item.value
        elif isinstance(item, (n.DefDecl, n.PredicateDecl)):
            if item.name in scopes.atoms or item.name in scopes.consts:
                problems.append(Diagnostic(item.span, "E011", f"'{item.name}' is an atom or constant; pick another name"))
            raw.functions[item.name] = RawFunction(item, name)
        elif isinstance(item, n.AssumeDecl):
            if any(a.name == item.name for a, _ in raw.assumptions + scopes.assumptions):
                problems.append(Diagnostic(item.span, "E011", f"assumption '{item.name}' is already declared"))
            raw.assumptions.append((item, name))
        elif isinstance(item, n.DropDecl):
            for dropped in item.names:
                known = [a.name for a, _ in raw.assumptions + scopes.assumptions]
                if dropped not in known:
                    hint = did_you_mean(dropped, known)
                    problems.append(Diagnostic(item.span, "E015", f"no assumption '{dropped}' to drop", hint))
                raw.assumptions.append((n.AssumeDecl(dropped, "", n.BoolLit(True, item.span), item.span), "drop"))
        elif isinstance(item, n.PatchDecl):
            _apply_patch(item, raw, scopes, problems)


def _apply_patch(patch: n.PatchDecl, raw: RawVersion, scopes: Scopes, problems: list[Diagnostic]) -> None:
    target = raw.functions.get(patch.predicate) or scopes.functions.get(patch.predicate)
    if target is None or not isinstance(target.decl, n.PredicateDecl):
        hint = did_you_mean(patch.predicate, list(raw.functions) + list(scopes.functions))
        problems.append(Diagnostic(patch.span, "E016", f"no predicate '{patch.predicate}' to patch", hint))
        return
    body = target.body or target.decl.body
    homes = dict(target.homes)
    for op in patch.ops:
        for stmt in op.body:
            _mark(stmt, raw.decl.name, homes)
        new_body, found = _edit(body, op)
        if not found:
            labels = sorted(_labels(body))
            hint = did_you_mean(op.target, labels)
            problems.append(Diagnostic(op.span, "E017", f"no rule labelled '{op.target}' in {patch.predicate}", hint))
            continue
        body = new_body
    home = target.home
    raw.functions[patch.predicate] = RawFunction(target.decl, home, body, homes)


def _mark(stmt: n.Stmt, home: str, homes: dict[int, str]) -> None:
    homes[id(stmt)] = home
    for child in _children(stmt):
        _mark(child, home, homes)


def _children(stmt: n.Stmt) -> tuple[n.Stmt, ...]:
    if isinstance(stmt, n.Block):
        return stmt.body
    if isinstance(stmt, n.If):
        return (stmt.then,) + ((stmt.orelse,) if stmt.orelse is not None else ())
    return ()


def _labels(stmt: n.Stmt) -> set[str]:
    found = {stmt.tag.label} if stmt.tag is not None and stmt.tag.label else set()
    for child in _children(stmt):
        found |= _labels(child)
    return found


def _edit(block: n.Block, op: n.PatchOp) -> tuple[n.Block, bool]:
    """Apply one patch operation to the first statement labelled op.target."""
    out: list[n.Stmt] = []
    found = False
    for stmt in block.body:
        if not found and stmt.tag is not None and stmt.tag.label == op.target:
            found = True
            if op.kind == "insert_before":
                out.extend(op.body)
                out.append(stmt)
            elif op.kind == "insert_after":
                out.append(stmt)
                out.extend(op.body)
            elif op.kind == "replace":
                out.extend(op.body)
            continue
        if not found:
            stmt, found = _edit_inside(stmt, op)
        out.append(stmt)
    return replace(block, body=tuple(out)), found


def _edit_inside(stmt: n.Stmt, op: n.PatchOp) -> tuple[n.Stmt, bool]:
    if isinstance(stmt, n.Block):
        return _edit(stmt, op)
    if isinstance(stmt, n.If):
        then, found = _edit_inside(_as_block(stmt.then), op)
        if found:
            return replace(stmt, then=then), True
        if stmt.orelse is not None:
            orelse, found = _edit_inside(_as_block(stmt.orelse), op)
            if found:
                return replace(stmt, orelse=orelse), True
    return stmt, False


def _as_block(stmt: n.Stmt) -> n.Block:
    if isinstance(stmt, n.Block) and stmt.tag is None:
        return stmt
    return n.Block((stmt,), stmt.span)
