"""Spec text -> nodes. Lark errors become located diagnostics here, once.

Limits, each a located error (exit 2) before the text can cost much:

    MAX_FILE_BYTES    a spec file's size, checked before lexing          E006
    MAX_STRING        a string literal's length, after its escapes       E006
    MAX_INT_DIGITS    the digits of a number                             E006
    MAX_RANGE         the elements of one `a..b` range in a universe,
                      checked before it is expanded                      E006
    MAX_DEPTH         the nesting depth of the parse tree (expressions,
                      blocks), measured without recursion before any pass
                      that recurses over the nodes sees them             E005

The parse and the transformation into nodes are iterative. A long chain of
one associative operator (`&&`, `||`, `|`, `&`) is regrouped into a
balanced tree, so a 10 000-term `a || b || ...` nests about 14 deep.
Strings: escapes are those of Python (`\\n`, `\\x41`, `\\u00e9`, `\\N{...}`);
a malformed escape or a NUL character is a located error (E007).
"""

from __future__ import annotations

import codecs
import functools
import re
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta
from lark.visitors import Transformer_NonRecursive

from . import nodes as n
from .diagnostics import Diagnostic, SpecError

# Readable names for the grammar's anonymous terminals, for "expected ..." lists.
_PUNCT = {
    "SEMICOLON": "';'", "COLON": "':'", "COMMA": "','", "LPAR": "'('", "RPAR": "')'",
    "LBRACE": "'{'", "RBRACE": "'}'", "EQUAL": "'='", "MORETHAN": "'>'", "LESSTHAN": "'<'",
    "NAME": "a name", "STRING": "a string", "INT": "a number", "ASSIGN_OP": "'='",
    "VERDICT": "'holds', 'fails' or 'vacuous'", "CMP_OP": "a comparison",
    "INTENT_KIND": "'caller' or 'property'",
}


MAX_FILE_BYTES = 1 << 20
MAX_STRING = 1 << 14
MAX_INT_DIGITS = 9
MAX_RANGE = 64
MAX_DEPTH = 100

_ASSOCIATIVE = {"and_expr", "or_expr", "union_expr", "inter_expr"}
_REGROUP = 16  # chains longer than this are regrouped; shorter ones keep the parse's shape


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
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise SpecError([Diagnostic(n.Span(path, 1, 1, 1, 1), "E006",
                                    f"the file is {size} bytes; a spec file is at most {MAX_FILE_BYTES} bytes")])
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise SpecError([_syntax_diagnostic(exc, text, path)]) from None
    except RecursionError:  # not expected: Lark's LALR parser keeps its own stack
        raise SpecError([Diagnostic(n.Span(path, 1, 1, 1, 1), "E005", "the file nests too deeply to parse")]) from None
    tree = _regroup(tree)
    _check_depth(tree, path)
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
        if text.startswith("/*", pos):
            return Diagnostic(span, "E001", "a /* comment that never ends", "close it with */")
        if char == '"':
            return Diagnostic(span, "E001", "a string that does not end on its line", 'close it with " before the line ends')
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


def _subtrees(tree: Tree[Token]) -> list[tuple[Tree[Token], int]]:
    """Every subtree with its depth (the root is 1), without recursion."""
    out: list[tuple[Tree[Token], int]] = []
    stack = [(tree, 1)]
    while stack:
        t, depth = stack.pop()
        out.append((t, depth))
        stack.extend((c, depth + 1) for c in t.children if isinstance(c, Tree))
    return out


def _check_depth(tree: Tree[Token], path: str) -> None:
    deepest, depth = max(_subtrees(tree), key=lambda td: td[1])
    if depth > MAX_DEPTH:
        meta = deepest.meta
        line, col = (meta.line, meta.column) if not getattr(meta, "empty", True) else (1, 1)
        raise SpecError([Diagnostic(n.Span(path, line, col, line, col), "E005",
                                    f"nested {depth} deep; the limit is {MAX_DEPTH}", "split the expression with 'def'")])


def _operands(t: Tree[Token]) -> list[Any]:
    """The operands of a left-nested chain of t's operator, left to right, without recursion."""
    out: list[Any] = []
    op = t.data
    while len(t.children) == 2:
        out.append(t.children[1])
        left = t.children[0]
        if not (isinstance(left, Tree) and left.data == op):
            out.append(left)
            break
        t = left
    return out[::-1]


def _balanced(op: str, items: list[Any]) -> Any:
    """items joined by op as a balanced tree, spans from the operands."""
    while len(items) > 1:
        joined = []
        for i in range(0, len(items) - 1, 2):
            a, b = items[i], items[i + 1]
            meta = Meta()  # type: ignore[no-untyped-call]
            first, last = _meta_of(a), _meta_of(b)
            if first is not None and last is not None:
                meta.line, meta.column, meta.start_pos = first.line, first.column, first.start_pos
                meta.end_line, meta.end_column, meta.end_pos = last.end_line, last.end_column, last.end_pos
                meta.empty = False
            joined.append(Tree(op, [a, b], meta))
        if len(items) % 2:
            joined.append(items[-1])
        items = joined
    return items[0]


def _meta_of(x: Any) -> Any:
    if isinstance(x, Tree):
        return None if getattr(x.meta, "empty", True) else x.meta
    if isinstance(x, Token) and x.line is not None:
        meta: Any = Meta()  # type: ignore[no-untyped-call]
        meta.line, meta.column, meta.start_pos = x.line, x.column, x.start_pos
        meta.end_line, meta.end_column, meta.end_pos = x.end_line, x.end_column, x.end_pos
        return meta
    return None


def _regroup(tree: Tree[Token]) -> Tree[Token]:
    """Long chains of one associative operator as balanced trees (iterative)."""
    stack: list[Tree[Token]] = [tree]
    while stack:
        t = stack.pop()
        for i, c in enumerate(t.children):
            if isinstance(c, Tree) and c.data in _ASSOCIATIVE:
                items = _operands(c)
                if len(items) > _REGROUP:
                    t.children[i] = c = _balanced(str(c.data), items)
            if isinstance(c, Tree):
                stack.append(c)
    return tree


_ESCAPE = re.compile(r"\\([0-7]{1,3}|N\{[^}]*\}|x[0-9A-Fa-f]{0,2}|u[0-9A-Fa-f]{0,4}|U[0-9A-Fa-f]{0,8}|.)", re.DOTALL)


def _escape(e: re.Match[str]) -> str:
    body = e.group(1)
    if body[0] in "NxuU01234567" or body in "\\'\"abfnrtv":
        return codecs.decode(e.group(0), "unicode_escape")
    return e.group(0)  # an unknown escape stays as written, as in Python


def _unquote(tok: Token | str, path: str) -> str:
    """A string token's text with its escapes decoded; a located error when
    an escape is malformed, the string is too long, or it holds a NUL."""
    raw = str(tok)[1:-1]
    text = raw
    if "\\" in raw:
        try:
            text = _ESCAPE.sub(_escape, raw)
        except UnicodeDecodeError as exc:
            raise SpecError([Diagnostic(_span_of(tok, path), "E007", f"a malformed escape in a string: {exc.reason}")]) from None
    if len(text) > MAX_STRING:
        raise SpecError([Diagnostic(_span_of(tok, path), "E006", f"a string of {len(text)} characters; the limit is {MAX_STRING}")])
    if "\0" in text:
        raise SpecError([Diagnostic(_span_of(tok, path), "E007", "a string cannot hold a NUL character")])
    return text


def _span_of(tok: Token | str, path: str) -> n.Span:
    if isinstance(tok, Token):
        return n.Span(path, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)
    return n.Span(path, 0, 0, 0, 0)


def _int(tok: Token | str, path: str) -> int:
    """A number token; a located error past MAX_INT_DIGITS digits."""
    digits = str(tok).lstrip("0") or "0"
    if len(digits) > MAX_INT_DIGITS:
        raise SpecError([Diagnostic(_span_of(tok, path), "E006", f"a number of {len(digits)} digits; the limit is {MAX_INT_DIGITS}")])
    return int(digits)


def _bin(op: str) -> Any:
    """A transformer method building a binary operation node."""

    def build(self: _Build, meta: Any, c: list[Any]) -> n.BinOp:
        return n.BinOp(op, c[0], c[-1], self._span(meta))

    return build


@v_args(meta=True)
class _Build(Transformer_NonRecursive[Token, Any]):
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
        return n.Import(_unquote(c[0], self.path), self._span(meta))

    def universe_decl(self, meta: Any, c: list[Any]) -> n.UniverseDecl:
        elems: list[int] = []
        for part in c[1:]:
            elems.extend(part)
        return n.UniverseDecl(str(c[0]), tuple(elems), self._span(meta))

    def elem_single(self, meta: Any, c: list[Any]) -> list[int]:
        return [_int(c[0], self.path)]

    def elem_range(self, meta: Any, c: list[Any]) -> list[int]:
        low, high = _int(c[0], self.path), _int(c[1], self.path)
        if high < low:
            raise SpecError([Diagnostic(self._span(meta), "E003", f"empty range {low}..{high}")])
        if high - low >= MAX_RANGE:
            raise SpecError([Diagnostic(self._span(meta), "E006",
                                        f"the range {low}..{high} has {high - low + 1} elements; a universe has at most {MAX_RANGE}")])
        return list(range(low, high + 1))

    def const_decl(self, meta: Any, c: list[Any]) -> n.ConstDecl:
        return n.ConstDecl(str(c[0]), c[1], self._span(meta))

    def atom_decl(self, meta: Any, c: list[Any]) -> list[n.AtomDecl]:
        names, typ, doc = c
        return [n.AtomDecl(name, typ, doc or "", self._span(meta)) for name in names]

    def name_list(self, meta: Any, c: list[Any]) -> tuple[str, ...]:
        return tuple(str(t) for t in c)

    def doc(self, meta: Any, c: list[Any]) -> str:
        return _unquote(c[0], self.path)

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
        return n.Origin(str(c[0]), _unquote(c[1], self.path), c[2], self._span(meta))

    def line_range(self, meta: Any, c: list[Any]) -> n.Cite:
        first = _int(c[0], self.path)
        last = _int(c[1], self.path) if c[1] is not None else first
        if last < first:
            raise SpecError([Diagnostic(self._span(meta), "E003", f"line range {first}..{last} runs backwards")])
        return n.Cite(first, last)

    def cite(self, meta: Any, c: list[Any]) -> n.Cite:
        file, rng = c
        return n.Cite(rng.first, rng.last, _unquote(file, self.path) if file is not None else None)

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
        base_name = _unquote(base, self.path) if base is not None else None
        return n.VersionDecl(_unquote(name, self.path), base_name, tuple(items), self._span(meta))

    def meta(self, meta: Any, c: list[Any]) -> n.Meta:
        return n.Meta(str(c[0]), _unquote(c[1], self.path), self._span(meta))

    def drop_decl(self, meta: Any, c: list[Any]) -> n.DropDecl:
        return n.DropDecl(c[0], self._span(meta))

    def intends_decl(self, meta: Any, c: list[Any]) -> n.IntendsDecl:
        return n.IntendsDecl(n.IntentKind(str(c[0])), c[1], self._span(meta))

    def patch_decl(self, meta: Any, c: list[Any]) -> n.PatchDecl:
        return n.PatchDecl(str(c[0]), tuple(c[1:]), self._span(meta))

    def _patch(self, kind: n.EditKind, meta: Any, c: list[Any]) -> n.PatchOp:
        body = c[1].body if len(c) > 1 else ()
        return n.PatchOp(kind, str(c[0]), body, self._span(meta))

    def patch_replace(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch(n.EditKind.REPLACE, meta, c)

    def patch_insert_before(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch(n.EditKind.INSERT_BEFORE, meta, c)

    def patch_insert_after(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch(n.EditKind.INSERT_AFTER, meta, c)

    def patch_delete(self, meta: Any, c: list[Any]) -> n.PatchOp:
        return self._patch(n.EditKind.DELETE, meta, c)

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
        versions = tuple(_unquote(s, self.path) for s in c[1]) if c[1] is not None else None
        arches = tuple(_unquote(s, self.path) for s in c[2]) if c[2] is not None else None
        return ("expect", n.Expect(str(c[0]), versions, self._span(meta), arches), self._span(meta))

    def arch_decl(self, meta: Any, c: list[Any]) -> n.ArchDecl:
        name, doc, *decls = c
        return n.ArchDecl(_unquote(name, self.path), doc or "", tuple(decls), self._span(meta))

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
        return n.IntLit(_int(c[0], self.path), self._span(meta))

    def name_ref(self, meta: Any, c: list[Any]) -> n.Name:
        return n.Name(str(c[0]), self._span(meta))

    def call_expr(self, meta: Any, c: list[Any]) -> n.Call:
        return n.Call(str(c[0]), tuple(c[1] or ()), self._span(meta))

    def qualified_ref(self, meta: Any, c: list[Any]) -> n.Call:
        version, name, args = c
        return n.Call(str(name), tuple(args or ()), self._span(meta), _unquote(version, self.path))

    def args(self, meta: Any, c: list[Any]) -> list[Any]:
        return c

    def set_lit(self, meta: Any, c: list[Any]) -> n.SetLit:
        items = tuple(x for x in c if x is not None)
        return n.SetLit(items, self._span(meta))

    def range_item(self, meta: Any, c: list[Any]) -> n.Range:
        low, high = (_int(x, self.path) if x.type == "INT" else str(x) for x in c)
        if isinstance(low, int) and isinstance(high, int) and high < low:
            raise SpecError([Diagnostic(self._span(meta), "E003", f"empty range {low}..{high}")])
        return n.Range(low, high, self._span(meta))
