"""`thpverify import --check-against`: the imported spec against a hand one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .analysis import diff_json, diff_text

if TYPE_CHECKING:
    from ..importer import Imported
    from ..importer.compare import Comparison


def _what(c: Comparison) -> str:
    return c.output + (f", caller {c.caller}" if c.caller else "")


def check_text(imported: Imported, hand: str, comparisons: list[Comparison]) -> str:
    out = [f"import {imported.name} (Linux {imported.release}) against {hand}", "", "functions read:"]
    out.extend(f"  {f}" for f in imported.functions)
    out.append("")
    width = max(len(_what(c)) for c in comparisons)
    for c in comparisons:
        out.append(f"  {_what(c):<{width}}  " + ("equivalent" if c.equivalent else f"differs ({len(c.table.rows)} rows)"))
    for c in comparisons:
        if not c.equivalent:
            out += ["", "-" * 40, diff_text(c.table).rstrip("\n")]
    same = all(c.equivalent for c in comparisons)
    out += ["", f"{imported.name} is equivalent to {hand}" if same else f"{imported.name} and {hand} differ"]
    return "\n".join(out) + "\n"


def check_json(imported: Imported, hand: str, comparisons: list[Comparison]) -> dict[str, Any]:
    return {"name": imported.name, "release": imported.release, "against": hand,
            "functions": list(imported.functions), "equivalent": all(c.equivalent for c in comparisons),
            "comparisons": [{"output": c.output, "caller": c.caller, "equivalent": c.equivalent, "diff": diff_json(c.table)}
                            for c in comparisons]}
