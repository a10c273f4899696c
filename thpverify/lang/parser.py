"""Spec text -> nodes, in one pass: Lark's LALR parser calls the builder at
each reduction, so no parse tree is built. Lark errors become located
diagnostics here, once.

Limits, each a located error (exit 2) before the text can cost much:

    MAX_FILE_BYTES    a spec file's size, checked before lexing          E006
    MAX_STRING        a string literal's length, after its escapes       E006
    MAX_INT_DIGITS    the digits of a number                             E006
    MAX_RANGE         the elements of one `a..b` range in a universe,
                      checked before it is expanded                      E006
    MAX_DEPTH         the nesting depth of the parse tree (expressions,
                      blocks), counted as the nodes are built, without
                      recursion, before any pass that recurses sees them E005

The parse and the construction of nodes are iterative. A long chain of
one associative operator (`&&`, `||`, `|`, `&`) is regrouped into a
balanced tree, so a 10 000-term `a || b || ...` nests about 14 deep.
Strings: escapes are those of Python (`\\n`, `\\x41`, `\\u00e9`, `\\N{...}`);
a malformed escape or a NUL character is a located error (E007).

Which error is reported is that of the parse tree Lark would build: a
syntax error anywhere first, then the nesting depth, then the first
error met building the nodes (left to right, innermost first). Every
value on the parser's stack (`_Item`) carries what its tree node would
know: its span, the span of the parentheses around it, its height.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import gc
import re
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.grammar import Rule

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

_ASSOCIATIVE = {"and_expr": "&&", "or_expr": "||", "union_expr": "|", "inter_expr": "&"}
_REGROUP = 16  # chains longer than this are regrouped; shorter ones keep the parse's shape


@functools.lru_cache(maxsize=1)
def _lark() -> _BuildingLark:
    """The parser, built from the grammar in each process (about 0.1 s). Its
    tables are never read from or written to a cache: Lark's table cache is a
    pickle, and loading a pickle runs code."""
    return _BuildingLark(resources.files("thpverify.lang").joinpath("grammar.lark").read_text(encoding="utf-8"))


class _BuildingLark(Lark):
    """Lark's LALR parser whose reductions call the builder (through
    `_reduce`) in place of Lark's tree builder, with every child, the
    anonymous tokens included: a value's span is then the one Lark's
    `propagate_positions` gives its tree node."""

    def __init__(self, grammar: str) -> None:
        self.builder = _Build()
        super().__init__(grammar, parser="lalr", maybe_placeholders=True)

    def _prepare_callbacks(self) -> None:
        self._callbacks = {rule: _reduce(rule, self.builder) for rule in self.rules}


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


_LOCK = threading.Lock()  # the builder holds one parse's state


def parse_text(text: str, path: str) -> n.SpecFile:
    """Parse one spec file; raise SpecError with a located diagnostic on bad input."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise SpecError([Diagnostic(n.Span(path, 1, 1, 1, 1), "E006",
                                    f"the file is {size} bytes; a spec file is at most {MAX_FILE_BYTES} bytes")])
    lark = _lark()
    build = lark.builder
    with _LOCK, without_cycle_collection():
        build.start_file(path)
        try:
            root: _Item = lark.parse(text)  # type: ignore[assignment]  # the callbacks' value, not a tree
        except UnexpectedInput as exc:
            raise SpecError([_syntax_diagnostic(exc, text, path)]) from None
        except RecursionError:  # not expected: Lark's LALR parser keeps its own stack
            raise SpecError([Diagnostic(n.Span(path, 1, 1, 1, 1), "E005", "the file nests too deeply to parse")]) from None
        finally:
            error, build.error = build.error, None
    if root.height > MAX_DEPTH:
        line, col = root.deep
        raise SpecError([Diagnostic(n.Span(path, line, col, line, col), "E005",
                                    f"nested {root.height} deep; the limit is {MAX_DEPTH}", "split the expression with 'def'")])
    if error is not None:
        raise error
    return n.SpecFile(path, tuple(root.value))


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for a pass that builds many objects
    and no cycles (nodes, the typed model): run again and again over a
    growing heap, it would cost more than the pass (250 x 5000: parsing
    takes 6 s with it, 2 s without; type checking 1.3 s, 0.35 s). A cycle
    made meanwhile is collected after."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


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


# ------------------------------------------------------------ the stack's values


class _Item:
    """A value on the parser's stack and what its parse-tree node would know:
    its span (`empty` when it has none), the span of its container (the
    parentheses around it; else its own span), its height in the parse tree
    (0 for a token-less value of no node) and where the deepest node under
    it starts (of several, the last). The builder's methods read the span
    as `meta`."""

    __slots__ = ("value", "empty", "line", "column", "end_line", "end_column",
                 "cline", "ccolumn", "cend_line", "cend_column", "height", "deep")

    def __init__(self, value: Any, start: tuple[int, int] | None, end: tuple[int, int] | None, height: int,
                 deep: tuple[int, int]) -> None:
        self.value = value
        self.empty = start is None and end is None
        self.line, self.column = self.cline, self.ccolumn = start or (0, 0)
        self.end_line, self.end_column = self.cend_line, self.cend_column = end or (0, 0)
        self.height = height
        self.deep = deep


class _Chain:
    """`left op right` of an associative operator, kept as such until the
    whole chain is known (then regrouped and built: `_finish`)."""

    __slots__ = ("op", "left", "right")

    def __init__(self, op: str, left: _Item, right: _Item) -> None:
        self.op, self.left, self.right = op, left, right


def _first(kids: list[Any]) -> tuple[int, int] | None:
    for k in kids:
        if type(k) is Token:
            return (k.line, k.column)  # type: ignore[return-value]
        if not k.empty:
            return (k.cline, k.ccolumn)
    return None


def _last(kids: list[Any]) -> tuple[int, int] | None:
    for k in reversed(kids):
        if type(k) is Token:
            return (k.end_line, k.end_column)  # type: ignore[return-value]
        if not k.empty:
            return (k.cend_line, k.cend_column)
    return None


def _plan(rule: Rule) -> tuple[list[tuple[int, bool, int]], int]:
    """Which children a rule keeps (as Lark's tree builder keeps them): per
    kept child its index, whether it is an inlined `_rule`, and how many
    placeholders (None, for an absent `[...]`) come before it; then the
    placeholders at the end."""
    expansion = rule.expansion
    flags = rule.options.empty_indices
    if flags:
        empty = [len(ones) for ones in "".join(str(int(b)) for b in flags).split("0")]
    else:
        empty = [0] * (len(expansion) + 1)
    kept: list[tuple[int, bool, int]] = []
    nones = 0
    for i, sym in enumerate(expansion):
        nones += empty[i]
        if rule.options.keep_all_tokens or not (sym.is_term and getattr(sym, "filter_out", False)):
            kept.append((i, not sym.is_term and sym.name.startswith("_"), nones))
            nones = 0
    return kept, nones + empty[len(expansion)]


def _reduce(rule: Rule, build: _Build) -> Callable[[list[Any]], Any]:
    """The callback of one grammar rule: the children (tokens and `_Item`s,
    anonymous tokens included) -> an `_Item`."""
    name = str(rule.alias or rule.options.template_source or rule.origin.name)
    kept, trailing = _plan(rule)
    expand1 = bool(rule.options.expand1 and not rule.alias)
    if expand1 and len(rule.expansion) == 1 and kept == [(0, False, 0)] and not trailing:
        return _pass_through
    op = _ASSOCIATIVE.get(name)
    container = expand1 and len(kept) == 1  # `"(" expr ")"`: the child passes through, in its parentheses
    method = None if op is not None else getattr(build, name, None)
    if method is None and op is None and not name.startswith("_") and not expand1:
        raise AssertionError(f"the builder has no method for the grammar rule {name}")

    def reduce(kids: list[Any]) -> Any:
        start, end = _first(kids), _last(kids)
        values: list[Any] = []
        items: list[_Item] = []
        height, deep = 0, (1, 1)
        for i, inline, nones in kept:
            if nones:
                values.extend([None] * nones)
            k = kids[i]
            if type(k) is Token:
                values.append(k)
                continue
            if type(k.value) is _Chain and k.value.op != op and not container:
                k = build.finish(k)
            items.append(k)
            if inline:
                values.extend(k.value)
            else:
                values.append(k.value)
            if k.height and k.height >= height:
                height, deep = k.height, k.deep
        if trailing:
            values.extend([None] * trailing)
        if method is None and op is None and name.startswith("_"):  # an inlined _rule: its children join the parent's
            return _Item(values, start, end, height, deep)
        if expand1 and len(values) == 1 and len(items) == 1:  # `?rule` with one child: the child, in its container
            single = items[0]
            if start is not None:
                if single.empty:
                    single.line, single.column = start
                    single.empty = False
                single.cline, single.ccolumn = start
            if end is not None:
                if single.empty:
                    single.end_line, single.end_column = end
                    single.empty = False
                single.cend_line, single.cend_column = end
            return single
        if op is not None:
            return _Item(_Chain(op, items[0], items[-1]), start, end, 0, (1, 1))
        if method is None:
            raise AssertionError(f"the builder has no method for the grammar rule {name}")
        item = _Item(None, start, end, height + 1, deep if height else (start or (1, 1)))
        if build.error is None:
            try:
                item.value = method(item, values)
            except SpecError as exc:
                build.error = exc
        return item

    return reduce


def _pass_through(kids: list[Any]) -> Any:
    return kids[0]


def _operands(t: _Item) -> list[_Item]:
    """The operands of a left-nested chain of t's operator, left to right, without recursion."""
    out: list[_Item] = []
    op = t.value.op
    while True:
        out.append(t.value.right)
        left = t.value.left
        if not (type(left.value) is _Chain and left.value.op == op):
            out.append(left)
            break
        t = left
    return out[::-1]


def _balanced(op: str, items: list[_Item]) -> _Item:
    """items joined by op as a balanced tree, spans from the operands."""
    while len(items) > 1:
        joined = []
        for i in range(0, len(items) - 1, 2):
            a, b = items[i], items[i + 1]
            whole = not a.empty and not b.empty
            joined.append(_Item(_Chain(op, a, b), (a.line, a.column) if whole else None,
                                (b.end_line, b.end_column) if whole else None, 0, (1, 1)))
        if len(items) % 2:
            joined.append(items[-1])
        items = joined
    return items[0]


def _regroup(top: _Item) -> _Item:
    """Long chains of one associative operator as balanced trees, top down
    (iterative); the chains' operands are already built."""
    items = _operands(top)
    if len(items) > _REGROUP:
        top = _balanced(top.value.op, items)
    stack = [top]
    while stack:
        chain = stack.pop().value
        for side in ("left", "right"):
            c = getattr(chain, side)
            if type(c.value) is _Chain:
                items = _operands(c)
                if len(items) > _REGROUP:
                    c = _balanced(chain.op, items)
                    setattr(chain, side, c)
                stack.append(c)
    return top


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
    """A builder method building a binary operation node."""

    def build(self: _Build, meta: Any, c: list[Any]) -> n.BinOp:
        return n.BinOp(op, c[0], c[-1], self._span(meta))

    return build


class _Build:
    """Lark's reductions -> nodes. One method per grammar rule or alias
    (`meta`: the `_Item` being built, for its span); `finish` builds a chain
    of an associative operator once it is whole. The state of one parse:
    its file, and the first error met building nodes (raised once the
    whole file has parsed)."""

    def __init__(self) -> None:
        self.path = ""
        self.error: SpecError | None = None

    def start_file(self, path: str) -> None:
        self.path = path
        self.error = None

    def _span(self, meta: Any) -> n.Span:
        if getattr(meta, "empty", True):
            return n.Span(self.path, 0, 0, 0, 0)
        return n.Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def finish(self, top: _Item) -> _Item:
        """A whole chain, regrouped (`_regroup`), as BinOp nodes built bottom
        up without recursion, each with its height; the chain's container
        span is kept."""
        root = _regroup(top)
        stack: list[tuple[_Item, bool]] = [(root, False)]
        while stack:
            t, ready = stack.pop()
            chain = t.value
            if not ready:
                stack.append((t, True))
                stack.extend((c, False) for c in (chain.left, chain.right) if type(c.value) is _Chain)
                continue
            left, right = chain.left, chain.right
            t.height, t.deep = (right.height + 1, right.deep) if right.height >= left.height else (left.height + 1, left.deep)
            t.value = None if self.error is not None else n.BinOp(chain.op, left.value, right.value, self._span(t))
        done = _Item(root.value, None, None, root.height, root.deep)
        for slot in _Item.__slots__[1:11]:  # its span and its container's
            setattr(done, slot, getattr(top, slot))
        return done

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
    in_expr = _bin("in")
    not_in_expr = _bin("notin")
    diff_expr = _bin("-")

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
