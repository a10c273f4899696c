"""Spec text -> nodes. Lark errors become located diagnostics here, once."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import nodes as n
from .diagnostics import Diagnostic, SpecError

# Readable names for the grammar's anonymous terminals, for "expected ..." lists.
_PUNCT = {
    "SEMICOLON": "';'", "COLON": "':'", "COMMA": "','", "LPAR": "'('", "RPAR": "')'",
    "LBRACE": "'{'", "RBRACE": "'}'", "EQUAL": "'='", "MORETHAN": "'>'", "LESSTHAN": "'<'",
    "NAME": "a name", "STRING": "a string", "INT": "a number", "ASSIGN_OP": "'='",
    "VERDICT": "'holds', 'fails' or 'vacuous'", "CMP_OP": "a comparison",
}


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    """The parser, built from the grammar in each process (about 0.1 s). Its
    tables are never read from or written to a cache: Lark's table cache is a
    pickle, and loading a pickle runs code."""
    grammar = resources.files("thpverify.lang").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _describe(term: str) -> str:
    if term in _PUNCT:
        return _PUNCT[term]
    try:
        pattern = _lark().get_terminal(term).pattern
    except KeyError:
        return term.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return term.lower()


def parse_text(text: str, path: str) -> n.SpecFile:
    """Parse one spec file; raise SpecError with a located diagnostic on bad input."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise SpecError([_syntax_diagnostic(exc, text, path)]) from None
    try:
        decls = _Build(path).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, SpecError):
            raise exc.orig_exc from None
        raise
    return n.SpecFile(path, tuple(decls.children if hasattr(decls, "children") else decls))


def _syntax_diagnostic(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
    line = getattr(exc, "line", -1)
    col = getattr(exc, "column", -1)
    if not isinstance(line, int) or line < 1:
        # End of input: point just past the last character.
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
    span = n.Span(path, line, col, line, col)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else "end of file"
        return Diagnostic(span, "E001", f"unexpected character {char!r}")
    expected = sorted({_describe(t) for t in getattr(exc, "expected", set()) or set()})
    if isinstance(exc, UnexpectedEOF):
        found = "end of file"
    else:
        assert isinstance(exc, UnexpectedToken)
        tok = exc.token
        found = "end of file" if tok.type == "$END" else f"{tok.value!r}"
    hint = ""
    if "';'" in expected:
        hint = "a statement or declaration ends with ';'"
    shown = ", ".join(expected[:6]) + (", ..." if len(expected) > 6 else "")
    message = f"unexpected {found}" + (f"; expected {shown}" if expected else "")
    return Diagnostic(span, "E002", message, hint)


def _unquote(tok: Token | str) -> str:
    raw = str(tok)[1:-1]
    return raw.encode("utf-8").decode("unicode_escape") if "\\" in raw else raw


def _bin(op: str) -> Any:
    """A transformer method building a binary operation node."""

    def build(self: _Build, meta: Any, c: list[Any]) -> n.BinOp:
        return n.BinOp(op, c[0], c[-1], self._span(meta))

    return build


@v_args(meta=True)
class _Build(Transformer[Token, Any]):
    """Lark tree -> nodes. One method per grammar rule or alias."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _span(self, meta: Any) -> n.Span:
        if getattr(meta, "empty", True):
            return n.Span(self.path, 0, 0, 0, 0)
        return n.Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> n.Span:
        return n.Span(self.path, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)

    # ------------------------------------------------------------ top level

    def start(self, meta: Any, items: list[Any]) -> list[Any]:
        flat: list[Any] = []
        for item in items:
            flat.extend(item if isinstance(item, list) else [item])
        return flat

    def import_decl(self, meta: Any, c: list[Any]) -> n.Import:
        return n.Import(_unquote(c[0]), self._span(meta))

    def universe_decl(self, meta: Any, c: list[Any]) -> n.UniverseDecl:
        elems: list[int] = []
        for part in c[1:]:
            elems.extend(part)
        return n.UniverseDecl(str(c[0]), tuple(elems), self._span(meta))

    def elem_single(self, meta: Any, c: list[Any]) -> list[int]:
        return [int(c[0])]

    def elem_range(self, meta: Any, c: list[Any]) -> list[int]:
        low, high = int(c[0]), int(c[1])
        if high < low:
            raise SpecError([Diagnostic(self._span(meta), "E003", f"empty range {low}..{high}")])
        return list(range(low, high + 1))

    def const_decl(self, meta: Any, c: list[Any]) -> n.ConstDecl:
        return n.ConstDecl(str(c[0]), c[1], self._span(meta))

    def atom_decl(self, meta: Any, c: list[Any]) -> list[n.AtomDecl]:
        names, typ, doc = c
        return [n.AtomDecl(name, typ, doc or "", self._span(meta)) for name in names]

    def name_list(self, meta: Any, c: list[Any]) -> tuple[str, ...]:
        return tuple(str(t) for t in c)

    def doc(self, meta: Any, c: list[Any]) -> str:
        return _unquote(c[0])

    def bool_type(self, meta: Any, c: list[Any]) -> n.BoolType:
        return n.BoolType(self._span(meta))

    def enum_type(self, meta: Any, c: list[Any]) -> n.EnumType:
        return n.EnumType(c[0], self._span(meta))

    def set_type(self, meta: Any, c: list[Any]) -> n.SetType:
        return n.SetType(str(c[0]), self._span(meta))

    def named_type(self, meta: Any, c: list[Any]) -> n.NamedType:
        return n.NamedType(str(c[0]), self._span(meta))

    def def_decl(self, meta: Any, c: list[Any]) -> n.DefDecl:
        return n.DefDecl(str(c[0]), c[1] or "", c[2], self._span(meta))

    def assume_decl(self, meta: Any, c: list[Any]) -> n.AssumeDecl:
        return n.AssumeDecl(str(c[0]), c[1] or "", c[2], self._span(meta))

    def context_decl(self, meta: Any, c: list[Any]) -> n.ContextDecl:
        return n.ContextDecl(str(c[0]), c[1] or "", c[2], self._span(meta))

    # ------------------------------------------------------------ predicates

    def predicate_decl(self, meta: Any, c: list[Any]) -> n.PredicateDecl:
        name, params, returns, *rest = c
        origin, body = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
        return n.PredicateDecl(str(name), tuple(params or ()), returns, origin, body, self._span(meta))

    def params(self, meta: Any, c: list[Any]) -> list[n.Param]:
        return c

    def param(self, meta: Any, c: list[Any]) -> n.Param:
        return n.Param(str(c[0]), c[1], self._span(meta))

    def origin(self, meta: Any, c: list[Any]) -> n.Origin:
        return n.Origin(str(c[0]), _unquote(c[1]), c[2], self._span(meta))

    def line_range(self, meta: Any, c: list[Any]) -> n.Cite:
        first = int(c[0])
        last = int(c[1]) if c[1] is not None else first
        if last < first:
            raise SpecError([Diagnostic(self._span(meta), "E003", f"line range {first}..{last} runs backwards")])
        return n.Cite(first, last)

    def cite(self, meta: Any, c: list[Any]) -> n.Cite:
        file, rng = c
        return n.Cite(rng.first, rng.last, _unquote(file) if file is not None else None)

    def block(self, meta: Any, c: list[Any]) -> n.Block:
        return n.Block(tuple(c), self._span(meta))

    def stmt(self, meta: Any, c: list[Any]) -> n.Stmt:
        tag, stmt = c if len(c) == 2 else (None, c[0])
        if tag is None:
            return stmt  # type: ignore[no-any-return]
        return type(stmt)(**{**stmt.__dict__, "tag": tag})  # type: ignore[no-any-return]

    def tag_label(self, meta: Any, c: list[Any]) -> n.Tag:
        return n.Tag(str(c[0]), None, self._span(meta))

    def tag_cite(self, meta: Any, c: list[Any]) -> n.Tag:
        label = str(c[0]) if len(c) == 2 else None
        return n.Tag(label, c[-1], self._span(meta))

    def if_stmt(self, meta: Any, c: list[Any]) -> n.If:
        return n.If(c[0], c[1], c[2], self._span(meta))

    def return_stmt(self, meta: Any, c: list[Any]) -> n.Return:
        return n.Return(c[0], self._span(meta))

    def let_stmt(self, meta: Any, c: list[Any]) -> n.Let:
        return n.Let(str(c[0]), c[1], self._span(meta))

    def assign_stmt(self, meta: Any, c: list[Any]) -> n.Assign:
        return n.Assign(str(c[0]), str(c[1]), c[2], self._span(meta))

    # ------------------------------------------------------------ versions

    def version_decl(self, meta: Any, c: list[Any]) -> n.VersionDecl:
        name, base, *items = c
        return n.VersionDecl(_unquote(name), _unquote(base) if base is not None else None, tuple(items), self._span(meta))

    def meta(self, meta: Any, c: list[Any]) -> n.Meta:
        return n.Meta(str(c[0]), _unquote(c[1]), self._span(meta))

    def drop_decl(self, meta: Any, c: list[Any]) -> n.DropDecl:
        return n.DropDecl(c[0], self._span(meta))

    def patch_decl(self, meta: Any, c: list[Any]) -> n.PatchDecl:
        return n.PatchDecl(str(c[0]), tuple(c[1:]), self._span(meta))

    def _patch(self, kind: str, meta: Any, c: list[Any]) -> n.PatchOp:
        body = c[1].body if len(c) > 1 else ()
        return n.PatchOp(kind, str(c[0]), body, self._span(meta))

    def patch_replace(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch("replace", meta, c)

    def patch_insert_before(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch("insert_before", meta, c)

    def patch_insert_after(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch("insert_after", meta, c)

    def patch_delete(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch("delete", meta, c)

    # ------------------------------------------------------------ properties

    def property_decl(self, meta: Any, c: list[Any]) -> n.PropertyDecl:
        name, doc, *items = c
        span = self._span(meta)
        callers: tuple[str, ...] | None = None
        assumes: list[n.AssumeDecl] = []
        drops: list[str] = []
        givens: list[n.Expr] = []
        claims: list[tuple[n.Expr, n.Span]] = []
        expects: list[n.Expect] = []
        problems: list[Diagnostic] = []
        for item in items:
            if isinstance(item, n.AssumeDecl):
                item = ("assume", item, item.span)
            elif isinstance(item, n.DropDecl):
                item = ("drop", item.names, item.span)
            kind, value, item_span = item
            if kind == "callers":
                if callers is not None:
                    problems.append(Diagnostic(item_span, "E004", "a property has one 'callers' clause"))
                callers = (callers or ()) + value
            elif kind == "assume":
                assumes.append(value)
            elif kind == "drop":
                drops.extend(value)
            elif kind == "given":
                givens.append(value)
            elif kind == "prove":
                claims.append((value, item_span))
            else:
                expects.append(value)
        if not claims:
            problems.append(Diagnostic(span, "E004", f"property '{name}' has no 'prove' clause"))
        for _, extra in claims[1:]:
            problems.append(Diagnostic(extra, "E004", "a property has one 'prove' clause", "write 'prove A && B;'"))
        if problems:
            raise SpecError(problems)
        return n.PropertyDecl(
            str(name), doc or "", callers, tuple(assumes), tuple(drops), tuple(givens),
            claims[0][0], tuple(expects), span,
        )

    def callers_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, n.Span]:
        return ("callers", c[0], self._span(meta))

    def given_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, n.Span]:
        return ("given", c[0], self._span(meta))

    def prove_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, n.Span]:
        return ("prove", c[0], self._span(meta))

    def expect_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, n.Span]:
        versions = tuple(_unquote(s) for s in c[1]) if c[1] is not None else None
        return ("expect", n.Expect(str(c[0]), versions, self._span(meta)), self._span(meta))

    def version_list(self, meta: Any, c: list[Any]) -> list[Token]:
        return c

    # ------------------------------------------------------------ expressions

    def cond_expr(self, meta: Any, c: list[Any]) -> n.Cond:
        return n.Cond(c[0], c[1], c[2], self._span(meta))

    implies_expr = _bin("->")
    iff_expr = _bin("<->")
    or_expr = _bin("||")
    and_expr = _bin("&&")
    in_expr = _bin("in")
    not_in_expr = _bin("notin")
    union_expr = _bin("|")
    diff_expr = _bin("-")
    inter_expr = _bin("&")

    def cmp_expr(self, meta: Any, c: list[Any]) -> n.BinOp:
        return n.BinOp(str(c[1]), c[0], c[2], self._span(meta))

    def not_expr(self, meta: Any, c: list[Any]) -> n.Not:
        return n.Not(c[0], self._span(meta))

    def true_lit(self, meta: Any, c: list[Any]) -> n.BoolLit:
        return n.BoolLit(True, self._span(meta))

    def false_lit(self, meta: Any, c: list[Any]) -> n.BoolLit:
        return n.BoolLit(False, self._span(meta))

    def int_lit(self, meta: Any, c: list[Any]) -> n.IntLit:
        return n.IntLit(int(c[0]), self._span(meta))

    def name_ref(self, meta: Any, c: list[Any]) -> n.Name:
        return n.Name(str(c[0]), self._span(meta))

    def call_expr(self, meta: Any, c: list[Any]) -> n.Call:
        return n.Call(str(c[0]), tuple(c[1] or ()), self._span(meta))

    def qualified_ref(self, meta: Any, c: list[Any]) -> n.Call:
        version, name, args = c
        return n.Call(str(name), tuple(args or ()), self._span(meta), _unquote(version))

    def args(self, meta: Any, c: list[Any]) -> list[Any]:
        return c

    def set_lit(self, meta: Any, c: list[Any]) -> n.SetLit:
        items = tuple(x for x in c if x is not None)
        return n.SetLit(items, self._span(meta))

    def range_item(self, meta: Any, c: list[Any]) -> n.Range:
        low, high = int(c[0]), int(c[1])
        if high < low:
            raise SpecError([Diagnostic(self._span(meta), "E003", f"empty range {low}..{high}")])
        return n.Range(low, high, self._span(meta))
