"""Files, imports, scopes, version inheritance and patches.

`load(paths)` reads spec files (following imports), gathers declarations into
the global vocabulary and into versions, applies each version's patches to
the predicates it inherits, and hands the result to the type checker.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..model import release_order
from . import nodes as n
from .diagnostics import Diagnostic, SpecError, did_you_mean
from .files import SPEC_SUFFIX, import_place, spec_files
from .parser import MAX_FILE_BYTES, parse_text

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
    intends: list[n.IntendsDecl] = field(default_factory=list)  # the version's own, never inherited


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
    arches: dict[str, n.ArchDecl] = field(default_factory=dict)
    arch: str = ""  # the architecture selected ("" when the specs declare none)


META_KEYS = ("release", "repository", "commit", "date", "url", "note", "summary", "title")


MAX_SPEC_BYTES = MAX_FILE_BYTES  # a spec file larger than this is refused before it is read
# Places that hold no spec, whatever a path or a link says.
_NEVER = (Path("/proc"), Path("/sys"), Path("/dev"))


@dataclass(frozen=True)
class SearchPath:
    """Where imports are looked for, in order, after the importing file's own
    directory; and the roots an import may resolve into."""

    dirs: tuple[Path, ...] = ()
    roots: tuple[Path, ...] = ()
    bundled: Path | None = None

    @staticmethod
    def make(named: list[Path], include: list[Path], bundled: Path | None) -> SearchPath:
        """The search order of the docs: each --spec/-I directory, then
        $THPVERIFY_PATH, then the bundled library. The roots are those
        directories and the directories of the files named."""
        env = [Path(p) for p in os.environ.get("THPVERIFY_PATH", "").split(os.pathsep) if p.strip()]
        dirs = [p for p in named if p.is_dir()] + list(include) + env + ([bundled] if bundled else [])
        roots = dirs + [p.parent for p in named if not p.is_dir()]
        unique: dict[str, Path] = {}
        for r in roots:
            unique.setdefault(os.path.realpath(r), Path(os.path.realpath(r)))
        return SearchPath(tuple(dict.fromkeys(dirs)), tuple(unique.values()), bundled)


def load(paths: list[Path], display_root: Path | None = None, search: SearchPath | None = None,
         arch: str | None = None) -> Scopes:
    """Read, parse and gather every file; raise SpecError with all problems.
    `arch` selects an architecture block (default: the first declared)."""
    search = search or SearchPath.make(paths, [], None)
    scopes = Scopes()
    problems: list[Diagnostic] = []
    parsed: list[n.SpecFile] = []
    seen: set[str] = set()
    queue: list[tuple[Path, n.Import | None]] = [(p, None) for p in spec_files(paths, problems)]
    while queue:
        path, importer = queue.pop(0)
        shown = _display(path, display_root, search)
        where = importer.span if importer else n.Span(shown, 0, 0, 0, 0)
        text, real, problem = _read_spec(path, search if importer else None)
        if problem:
            problems.append(Diagnostic(where, "E010", problem))
            continue
        assert text is not None and real is not None
        if real in seen:
            continue
        seen.add(real)
        scopes.sources[shown] = text
        scopes.paths[shown] = real
        scopes.files.append(shown)
        try:
            spec = parse_text(text, shown)
        except SpecError as exc:
            problems.extend(exc.diagnostics)
            continue
        parsed.append(spec)
        for decl in spec.decls:
            if isinstance(decl, n.Import):
                found = _find_import(decl, path.parent, search)
                if isinstance(found, str):
                    problems.append(Diagnostic(decl.span, "E010", found, _import_hint(decl, search)))
                else:
                    queue.append((found, decl))
    if problems:
        raise SpecError(problems, scopes.sources)
    chosen = _select_arch(parsed, scopes, arch, problems)
    for spec in ([chosen] if chosen else []) + parsed:
        _gather(spec, scopes, problems)
    _build_versions(scopes, problems)
    if problems:
        raise SpecError(problems, scopes.sources)
    return scopes


def _select_arch(parsed: list[n.SpecFile], scopes: Scopes, arch: str | None,
                 problems: list[Diagnostic]) -> n.SpecFile | None:
    """The declarations of the selected architecture, as a file of their own."""
    for spec in parsed:
        for decl in spec.decls:
            if isinstance(decl, n.ArchDecl):
                if decl.name in scopes.arches:
                    other = scopes.arches[decl.name].span
                    problems.append(Diagnostic(decl.span, "E011", f"architecture '{decl.name}' is already declared at {other}"))
                    continue
                scopes.arches[decl.name] = decl
    if arch is None:
        if not scopes.arches:
            return None
        arch = next(iter(scopes.arches))
    if arch not in scopes.arches:
        known = ", ".join(scopes.arches) or "none"
        first = next(iter(scopes.arches.values()), None)
        where = first.span if first else n.Span(scopes.files[0] if scopes.files else "<no spec>", 1, 1, 1, 1)
        problems.append(Diagnostic(where, "E024", f"no architecture '{arch}' in these specs (architectures: {known})",
                                   did_you_mean(arch, scopes.arches)))
        return None
    scopes.arch = arch
    chosen = scopes.arches[arch]
    return n.SpecFile(chosen.span.file, tuple(chosen.decls))


def _find_import(decl: n.Import, here: Path, search: SearchPath) -> Path | str:
    """The file an import names: the importing file's directory first, then
    the search path; or why there is none. Nothing is read here."""
    if "\0" in decl.path or not decl.path.strip():
        return f"cannot import '{_printable(decl.path)}': not a file name"
    if not decl.path.endswith(SPEC_SUFFIX):
        return f"cannot import '{_printable(decl.path)}': not a spec file (spec files end in {SPEC_SUFFIX})"
    place = import_place(decl.path, here, search.dirs)
    if place is not None:
        return place
    if Path(decl.path).is_absolute():
        return f"cannot import '{decl.path}': no such file"
    return f"cannot import '{decl.path}': no such spec in {_places(here, search)}"


def _import_hint(decl: n.Import, search: SearchPath) -> str:
    if decl.path.endswith(SPEC_SUFFIX) and not Path(decl.path).is_absolute():
        return "name a directory that holds it with -I DIR or $THPVERIFY_PATH"
    return ""


def _places(here: Path, search: SearchPath) -> str:
    shown = [str(here)] + [str(d) for d in search.dirs]
    return ", ".join(dict.fromkeys(shown))


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


def _read_spec(path: Path, search: SearchPath | None) -> tuple[str | None, str | None, str]:
    """A spec file's text and real path, or why it cannot be read. Only a
    regular file (after links) below MAX_SPEC_BYTES is read; an import
    (search given) must also lie inside one of the spec roots. The content
    of a file that is refused never reaches a message."""
    shown = _printable(str(path))
    if "\0" in str(path):
        return None, None, f"cannot read {shown}: not a file name"
    try:
        real = Path(os.path.realpath(path, strict=True))
    except (OSError, RuntimeError) as exc:
        reason = "symbolic link loop" if isinstance(exc, RuntimeError) or getattr(exc, "errno", 0) == errno.ELOOP \
            else (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
        return None, None, f"cannot read {shown}: {reason}"
    if any(real == p or p in real.parents for p in _NEVER):
        return None, None, f"cannot read {shown}: {real.parts[1]}/ holds no spec files"
    if search is not None and not any(real == r or r in real.parents for r in search.roots):
        return None, None, f"cannot import {shown}: it lies outside the spec roots ({', '.join(str(r) for r in search.roots)})"
    if not str(real).endswith(SPEC_SUFFIX):
        return None, None, f"cannot read {shown}: not a spec file (spec files end in {SPEC_SUFFIX})"
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        return None, None, f"cannot read {shown}: {exc.strerror or exc}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, None, f"cannot read {shown}: not a regular file"
        if st.st_size > MAX_SPEC_BYTES:
            return None, None, f"cannot read {shown}: {st.st_size} bytes; spec files are at most {MAX_SPEC_BYTES}"
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        return None, None, f"cannot read {shown}: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if len(data) > MAX_SPEC_BYTES:
        return None, None, f"cannot read {shown}: spec files are at most {MAX_SPEC_BYTES} bytes"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, None, f"cannot read {shown}: not UTF-8 text (byte {exc.start})"
    if "\0" in text:
        return None, None, f"cannot read {shown}: it holds a NUL byte, so it is not spec text"
    return text, str(real), ""


def _display(path: Path, root: Path | None, search: SearchPath) -> str:
    """A path as shown in messages: a bundled file as specs/NAME, else under
    root if given, else under the working directory."""
    bundled = search.bundled
    if bundled is not None and os.path.realpath(path).startswith(os.path.realpath(bundled) + os.sep):
        return str(Path(bundled.name) / Path(os.path.realpath(path)).relative_to(os.path.realpath(bundled)))
    for base in (root, Path.cwd()):
        if base is not None:
            try:
                return str(Path(os.path.abspath(path)).relative_to(os.path.abspath(base)))
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
    depth, base = 0, raw.decl.base
    while base in versions and depth < len(versions):
        depth, base = depth + 1, versions[base].decl.base
    return release_order(raw.meta.get("release", ""), depth, raw.order)


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
        elif isinstance(item, n.IntendsDecl):
            if raw.decl.base is None:
                problems.append(Diagnostic(item.span, "E018", f"'intends' belongs to a patch; '{name}' extends no version",
                                           f"write version \"{name}\" extends \"BASE\""))
            raw.intends.append(item)


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
            close = did_you_mean(op.target, labels)
            listed = f"labels in {patch.predicate}: {', '.join(labels)}" if labels else f"{patch.predicate} has no labelled rules"
            hint = f"{close} {listed}" if close else listed
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
            if op.kind is n.EditKind.INSERT_BEFORE:
                out.extend(op.body)
                out.append(stmt)
            elif op.kind is n.EditKind.INSERT_AFTER:
                out.append(stmt)
                out.extend(op.body)
            elif op.kind is n.EditKind.REPLACE:
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
