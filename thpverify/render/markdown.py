"""Markdown for a CI job summary (GitHub's $GITHUB_STEP_SUMMARY, GitLab notes).

A one-line verdict, the property x version matrix, then each verdict that
is not as expected with its counterexample, and every refuted cell's
counterexample folded in a <details> block.
"""

from __future__ import annotations

from .. import model as m
from ..results import CheckReport, Verdict
from . import text as render_text
from .sarif import details, headline, property_place

LEGEND = "✓ proved, ✗ refuted, ∅ vacuous, ? unknown, ! error; **bold**: not as expected"


def _cell(v: Verdict | None) -> str:
    if v is None:
        return ""
    mark = render_text.SYMBOL[v.verdict]
    return mark if v.as_expected else f"**{mark}**"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def check_report(report: CheckReport, lib: m.Library) -> str:
    verdicts = report.verdicts
    summary = render_text.summary(verdicts)
    ok = report.exit_code == 0
    out = [f"## thpverify check: {'✅' if ok else '❌'} {summary}", ""]
    out.append(f"{len(report.versions)} versions, "
               f"{len({v.property_name for v in verdicts})} properties, exit code {report.exit_code}.")
    out.append("")
    per_version = [v for v in verdicts if v.version]
    across = [v for v in verdicts if not v.version]
    if per_version:
        names = list(dict.fromkeys(v.property_name for v in per_version))
        cells = {(v.property_name, v.version): v for v in per_version}
        out.append("| property | " + " | ".join(f"`{x}`" for x in report.versions) + " |")
        out.append("|---|" + "---|" * len(report.versions))
        for name in names:
            out.append(f"| `{name}` | " + " | ".join(_cell(cells.get((name, x))) for x in report.versions) + " |")
        out.append("")
        out.append(LEGEND)
        out.append("")
    if across:
        out.append("| cross-version property | verdict | expected |")
        out.append("|---|---|---|")
        for v in across:
            out.append(f"| `{v.property_name}` | {_cell(v)} {v.verdict} | {v.expected or 'none'} |")
        out.append("")
    wrong = [v for v in verdicts if not v.as_expected]
    if wrong:
        out.append(f"### Not as expected ({len(wrong)})")
        out.append("")
        for v in wrong:
            place = property_place(lib, v)
            at = f" (`{place.file}:{place.line}`)" if place else ""
            out.append(f"- **{_escape(headline(v))}**{at}")
            out.append("")
            out.append(_code(details(v)))
            out.append("")
    refuted = [v for v in verdicts if v.as_expected and v.counterexample is not None]
    if refuted:
        out.append(f"### Counterexamples ({len(refuted)} refuted as expected)")
        out.append("")
        for v in refuted:
            out.append(f"<details><summary><code>{v.property_name}</code> on <code>{v.version or 'across versions'}</code></summary>")
            out.append("")
            out.append(_code(details(v)))
            out.append("")
            out.append("</details>")
            out.append("")
    return "\n".join(out).rstrip() + "\n"
