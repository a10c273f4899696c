"""Seeded, deterministic first-match decision lists, as thpverify DSL text
and as SMT-LIB 2 text (the same formulas, for the Z3 baseline).

A table has n bool atoms x0..x{n-1} and m rules `if (cube) return v;` of
1-4 literals over distinct atoms, then `return true`. Three versions:

- `a`: the table;
- `b`: `a` with one rule's return value flipped, at a position chosen so
  that the rule is reachable (a witness input is built for it), so `a` and
  `b` really differ;
- `c`: a textual copy of `a` (identical decision).

Planted properties, true by construction whatever the random rules are:

- `holds_p`: `x0 && x1 -> eligible` holds on every version, because every
  rule that returns false (in `a` or `b`) has `!x0` or `!x1` in its guard;
- `fails_p`: `x2 -> eligible` fails on every version, because rule 0 is
  `!x0 && x2 && x3 -> false`;
- `equal_ab` (fails) and `equal_ac` (holds): equivalence across versions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

Literal = tuple[int, bool]  # (atom index, polarity)


@dataclass(frozen=True)
class Rule:
    guard: tuple[Literal, ...]
    value: bool


@dataclass(frozen=True)
class Table:
    n: int
    m: int
    seed: int
    rules: tuple[Rule, ...]  # version a
    flipped: int  # the rule whose value b flips
    witness: tuple[bool, ...]  # an input decided by rule `flipped` in a and b

    def rules_of(self, version: str) -> tuple[Rule, ...]:
        if version == "b":
            r = self.rules[self.flipped]
            return self.rules[: self.flipped] + (Rule(r.guard, not r.value),) + self.rules[self.flipped + 1:]
        return self.rules


# query -> (thpverify property, version of its instance or "" across versions)
QUERIES: dict[str, tuple[str, str]] = {
    "prove_holds": ("holds_p", "a"),
    "prove_fails": ("fails_p", "a"),
    "equiv_differ": ("equal_ab", ""),
    "equiv_same": ("equal_ac", ""),
}
# query -> True when the claim holds (unsat negation)
EXPECTED = {"prove_holds": True, "prove_fails": False, "equiv_differ": False, "equiv_same": True}


def generate(n: int, m: int, seed: int = 0) -> Table:
    """A table of n atoms (n >= 4) and m rules (m >= 2), reproducible from the seed."""
    if n < 4 or m < 2:
        raise ValueError("a table needs at least 4 atoms and 2 rules")
    rng = random.Random(f"thpverify-bench/{n}/{m}/{seed}")
    rules: list[Rule] = [Rule(((0, False), (2, True), (3, True)), False)]
    for _ in range(1, m):
        size = rng.randint(1, min(4, n))
        atoms = rng.sample(range(n), size)
        lits = tuple((a, rng.random() < 0.5) for a in atoms)
        rules.append(Rule(lits, rng.random() < 0.5))
    rules = [r if r.value else Rule(_blocked(r.guard, rng), False) for r in rules]
    # b flips one rule: it must stay harmless to holds_p in both versions
    # (a guard with !x0 or !x1) and be reachable (a witness exists).
    for p in range(max(1, m // 2), 0, -1):
        guard = _blocked(rules[p].guard, rng)
        witness = _witness(n, rules[:p], guard)
        if witness is not None:
            rules[p] = Rule(guard, rules[p].value)
            break
    else:
        raise ValueError(f"no reachable rule to flip in a {n} x {m} table (seed {seed})")
    return Table(n, m, seed, tuple(rules), p, witness)


def _blocked(guard: tuple[Literal, ...], rng: random.Random) -> tuple[Literal, ...]:
    """The guard, made to contain !x0 or !x1 (so it never fires when x0 && x1)."""
    if any(a in (0, 1) and not pol for a, pol in guard):
        return guard
    rest = [lit for lit in guard if lit[0] not in (0, 1)]
    if len(rest) >= 4:
        rest.pop(rng.randrange(len(rest)))
    return tuple(rest) + ((rng.randint(0, 1), False),)


def _witness(n: int, earlier: list[Rule], guard: tuple[Literal, ...]) -> tuple[bool, ...] | None:
    """An input that satisfies guard and none of the earlier guards (greedy)."""
    fixed: dict[int, bool] = dict(guard)
    for r in earlier:
        if any(fixed.get(a) is not None and fixed[a] != pol for a, pol in r.guard):
            continue  # already falsified
        free = [(a, pol) for a, pol in r.guard if a not in fixed]
        if not free:
            return None
        a, pol = free[0]
        fixed[a] = not pol
    return tuple(fixed.get(i, False) for i in range(n))


def decide(rules: tuple[Rule, ...], point: tuple[bool, ...] | list[bool]) -> bool:
    """First-match evaluation (for sanity checks of the generator)."""
    for r in rules:
        if all(point[a] == pol for a, pol in r.guard):
            return r.value
    return True


# ------------------------------------------------------------------- thpverify DSL


def _lit_dsl(lit: Literal) -> str:
    a, pol = lit
    return f"x{a}" if pol else f"!x{a}"


def thp_text(t: Table) -> str:
    out = [f"// generated: {t.n} atoms, {t.m} rules, seed {t.seed}; b flips rule r{t.flipped}",
           "atom " + ", ".join(f"x{i}" for i in range(t.n)) + ": bool;", ""]
    for version in ("a", "b", "c"):
        out.append(f'version "{version}" {{')
        out.append("  predicate eligible() -> bool {")
        for i, r in enumerate(t.rules_of(version)):
            cond = " && ".join(_lit_dsl(lit) for lit in r.guard)
            out.append(f"    r{i}: if ({cond}) return {'true' if r.value else 'false'};")
        out.append("    last: return true;")
        out.append("  }")
        out.append("}")
        out.append("")
    out += [
        'property holds_p "planted: no false rule fires when x0 && x1" {',
        "  prove x0 && x1 -> eligible;",
        "  expect holds;",
        "}",
        'property fails_p "planted: rule 0 refuses x2 && x3 when !x0" {',
        "  prove x2 -> eligible;",
        "  expect fails;",
        "}",
        'property equal_ab "a and b decide alike" {',
        '  prove "a"::eligible == "b"::eligible;',
        "  expect fails;",
        "}",
        'property equal_ac "a and its copy c decide alike" {',
        '  prove "a"::eligible == "c"::eligible;',
        "  expect holds;",
        "}",
    ]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------- SMT-LIB


def _lit_smt(lit: Literal) -> str:
    a, pol = lit
    return f"x{a}" if pol else f"(not x{a})"


def _definition(t: Table, version: str) -> list[str]:
    """The first-match chain as a flat sequence of define-funs (no deep nesting in the text)."""
    rules = t.rules_of(version)
    out = []
    below = "true"
    for i in range(len(rules) - 1, -1, -1):
        r = rules[i]
        cond = _lit_smt(r.guard[0]) if len(r.guard) == 1 else "(and " + " ".join(map(_lit_smt, r.guard)) + ")"
        name = f"{version}_{i}"
        out.append(f"(define-fun {name} () Bool (ite {cond} {'true' if r.value else 'false'} {below}))")
        below = name
    out.append(f"(define-fun {version} () Bool {below})")
    return out


def smt2_text(t: Table, query: str) -> str:
    """One query as an SMT-LIB 2 script; sat means refuted / differ."""
    lines = ["(set-logic QF_UF)"] + [f"(declare-const x{i} Bool)" for i in range(t.n)]
    if query == "prove_holds":
        lines += _definition(t, "a") + ["(assert (and x0 x1 (not a)))"]
    elif query == "prove_fails":
        lines += _definition(t, "a") + ["(assert (and x2 (not a)))"]
    elif query == "equiv_differ":
        lines += _definition(t, "a") + _definition(t, "b") + ["(assert (not (= a b)))"]
    elif query == "equiv_same":
        lines += _definition(t, "a") + _definition(t, "c") + ["(assert (not (= a c)))"]
    else:
        raise ValueError(query)
    return "\n".join(lines + ["(check-sat)"]) + "\n"
