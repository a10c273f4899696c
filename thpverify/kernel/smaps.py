"""The running kernel's own answer against the model's, for `smaps`.

`explain` asks the model for `thp_eligible` on what `observe` saw of each
VMA (parsed by kernel/proc.py, with the settings of kernel/settings.py),
and puts the kernel's THPeligible, the model's answer, the deciding rule
and advice (kernel/advice.py) side by side in a `VmaReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..location import Span
from ..results import KernelCite, Value
from .advice import explain_rule
from .observe import Observation, observe
from .proc import Vma
from .settings import Process, Settings


@dataclass(frozen=True)
class VmaReport:
    """One VMA: the kernel's THPeligible, the model's, the rule, and advice."""

    vma: Vma
    kind: str
    kernel: int | None
    model: Value | None  # None: depends
    depends_on: tuple[str, ...]
    rule: str | None
    rule_at: Span | None
    cite: KernelCite | None
    advice: str
    unknown: tuple[tuple[str, str], ...]
    note: str = ""

    @property
    def status(self) -> str:
        if self.kernel is None:
            return "no-kernel-answer"
        if self.model is None:
            return "depends"
        return "agree" if (self.model is True) == bool(self.kernel) else "DISAGREE"




def pick_version(lib: Any, kernel: str) -> str | None:
    """The modelled release nearest at or below `kernel`, by major and minor
    number, in the library's one release order (patches are never picked)."""
    from ..model import release_numbers

    running = release_numbers(kernel)[:2]
    if len(running) < 2:
        return None
    below = [(release_numbers(lib.versions[v].get("release"))[:2], v) for v in lib.releases()]
    below = [(numbers, v) for numbers, v in below if numbers <= running]
    return max(below)[1] if below else None


# The usual value of atoms smaps cannot show, used only to name a deciding
# rule when the value is already the same for every value of them.
USUAL: dict[str, bool | str | int] = {
    "vma_is_dax": False, "huge_fault": False, "inode_is_open_for_write": False, "anon_vma": True,
    "MMF_DISABLE_THP_EXCEPT_ADVISED": False, "vma_is_anon_shmem": False}


class Explainer:
    """Asks the model about observed VMAs; identical inputs are asked once."""

    def __init__(self, lib: Any, version: str) -> None:
        from ..backend.solver import Solver

        self.lib = lib
        self.version = version
        self.solver = Solver(lib)
        self.cache: dict[tuple[str, tuple[tuple[str, bool | str | int], ...]], Any] = {}

    def ask(self, known: Sequence[tuple[str, bool | str | int]], output: str = "thp_eligible") -> Any:
        from ..results import Fixed

        key = tuple(sorted((a, v) for a, v in known if a in self.lib.atoms))
        if (output, key) not in self.cache:
            given = [Fixed(a, None, v) for a, v in key]
            self.cache[output, key] = self.solver.evaluate(self.version, output, given)
        return self.cache[output, key]

    def report(self, v: Vma, obs: Observation) -> VmaReport:
        from ..results import Fixed

        r = self.ask(obs.known)
        known = dict(obs.known)
        unknown = dict(obs.unknown)
        depends = tuple(d for d in r.depends_on)
        if r.contradicts:
            advice = "inputs contradict the model's assumptions: " + ", ".join(r.contradicts)
        elif r.value is None:
            advice = "depends on " + ", ".join(depends) + ": " + "; ".join(
                unknown[d] for d in depends if d in unknown) if depends else "depends on atoms not observed"
        else:
            advice = explain_rule(r.rule, r.value is True, v, known)
        note = r.note if r.contradicts else ""
        if r.value is not None and r.rule is None and not r.contradicts:
            # The value is fixed, the rule is not: name the rule of the usual case.
            usual = {a: val for a, val in USUAL.items() if a in unknown}
            r2 = self.ask(list(obs.known) + list(usual.items()))
            if r2.rule is not None and r2.value == r.value:
                note = "(rule of the usual case " + ", ".join(str(Fixed(a, None, val)) for a, val in sorted(usual.items())) \
                    + "; the value is the same whatever they are)"
                advice = explain_rule(r2.rule, r.value is True, v, {**known, **usual})
                r = r2
            elif obs.kind.startswith("special mapping"):
                advice = "a kernel special mapping (vDSO, vvar): not eligible"
            else:
                advice = ("eligible" if r.value is True else "not eligible") \
                    + "; which rule decides depends on what smaps does not show"
        if r.value is False and advice.startswith("needs MADV_HUGEPAGE"):
            advice = self._if_advised(v, obs, advice)
        return VmaReport(vma=v, kind=obs.kind, kernel=v.thp_eligible, model=r.value, depends_on=depends, rule=r.rule,
                         rule_at=r.rule_at, cite=r.kernel, advice=advice, unknown=obs.unknown, note=note)


    def _if_advised(self, v: Vma, obs: Observation, advice: str) -> str:
        """Advice to add MADV_HUGEPAGE, kept only if the model says it is enough."""
        advised = {**dict(obs.known), "VM_HUGEPAGE": True, "vma_VM_HUGEPAGE": True,
                   "VM_NOHUGEPAGE": False, "vma_VM_NOHUGEPAGE": False}
        then = self.ask(list(advised.items()))
        if then.value is True:
            return advice
        usual = self.ask(list({**USUAL, **advised}.items()))  # what is observed wins over the usual
        if then.value is None:
            if usual.value is not False:
                return advice + "; then it depends on " + ", ".join(then.depends_on)
            return (f"MADV_HUGEPAGE alone is not enough unless {' or '.join(then.depends_on)}: "
                    + explain_rule(usual.rule, False, v, {**USUAL, **advised}))
        rule = then.rule if then.rule is not None else usual.rule
        return "MADV_HUGEPAGE alone is not enough: " + explain_rule(rule, False, v, advised)


def explain(lib: Any, version: str, vmas: Sequence[Vma], settings: Settings, proc: Process,
            sizes: Mapping[int, int] | None = None) -> list[VmaReport]:
    ex = Explainer(lib, version)
    return [ex.report(v, observe(v, settings, proc, (sizes or {}).get(v.start))) for v in vmas]
