"""One self-contained HTML page for people: no network, no script.

- the version x property matrix of verdicts; a refuted cell (or any cell
  not as expected) links to a panel with its counterexample, deciding rule
  and trace, shown by CSS `:target` when the cell is clicked;
- the diff tables between consecutive versions (thpverify.analysis.diff);
- a timeline of one VMA across versions as an inline SVG drawn here
  (thpverify.analysis.timeline).

The page is deterministic (no timestamps) so it can be committed or
compared between runs.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from .. import __version__
from .. import model as m
from ..results import CheckReport, DiffTable, Fixed, Timeline, Verdict, show
from . import text as render_text
from .sarif import details, headline

CSS = """
:root { --proved: #1a7f37; --refuted: #b35900; --vacuous: #6e7781; --bad: #cf222e; --ink: #1f2328; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1500px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.summary { font-size: 15px; margin: 4px 0 12px; }
.ok { color: var(--proved); font-weight: 600; } .fail { color: var(--bad); font-weight: 600; }
.legend span { display: inline-block; margin-right: 14px; }
table { border-collapse: collapse; }
table.matrix { font-size: 12px; }
.matrix th, .matrix td { border: 1px solid #d0d7de; padding: 0; text-align: center; }
.matrix thead th { background: #f6f8fa; padding: 4px 3px; font-weight: 600; white-space: nowrap;
                   writing-mode: vertical-rl; transform: rotate(180deg); height: 62px; }
.matrix th.prop { text-align: left; padding: 2px 8px; font-family: ui-monospace, monospace; font-weight: 500;
                  white-space: nowrap; background: #fff; }
.matrix td a, .matrix td span { display: block; width: 26px; height: 22px; line-height: 22px;
                                 text-decoration: none; color: inherit; }
td.proved { background: #dafbe1; color: var(--proved); }
td.refuted { background: #fff1e5; color: var(--refuted); }
td.vacuous { background: #f6f8fa; color: var(--vacuous); }
td.unknown, td.error { background: #ffebe9; color: var(--bad); }
td.unexpected { outline: 3px solid var(--bad); outline-offset: -3px; font-weight: 700; }
td a:hover { background: rgba(0,0,0,.08); }
.panel { display: none; border: 2px solid #0969da; border-radius: 6px; padding: 8px 14px; margin: 12px 0;
         background: #f6f8fa; }
.panel:target { display: block; }
.panel h3 { margin-top: 4px; }
pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; margin: 6px 0; }
table.diff { font-size: 12.5px; margin: 4px 0 10px; }
.diff th, .diff td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
.diff th { background: #f6f8fa; }
.diff code, .cross code { font-family: ui-monospace, monospace; }
.muted { color: #59636e; }
table.cross td, table.cross th { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
svg text { font-family: system-ui, sans-serif; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell_class(v: Verdict) -> str:
    return v.verdict + ("" if v.as_expected else " unexpected")


def _title(v: Verdict) -> str:
    text = headline(v)
    if v.counterexample is not None:
        text += "; counterexample: " + (", ".join(str(f) for f in v.counterexample.partial) or "any input")
    return text


def _has_panel(v: Verdict) -> bool:
    return v.counterexample is not None or not v.as_expected


def _matrix(report: CheckReport, ids: dict[tuple[str, str], str]) -> list[str]:
    per_version = [v for v in report.verdicts if v.version]
    if not per_version:
        return []
    names = list(dict.fromkeys(v.property_name for v in per_version))
    cells = {(v.property_name, v.version): v for v in per_version}
    versions = [x for x in report.versions if any(v.version == x for v in per_version)]
    out = ['<table class="matrix" id="matrix">', "<thead><tr><th class=\"prop\"></th>"]
    out.extend(f"<th scope=\"col\">{_e(x)}</th>" for x in versions)
    out.append("</tr></thead><tbody>")
    for name in names:
        row = [f'<tr><th class="prop" scope="row">{_e(name)}</th>']
        for x in versions:
            v = cells.get((name, x))
            if v is None:
                row.append("<td></td>")
                continue
            mark = render_text.SYMBOL[v.verdict]
            title = _e(_title(v))
            if _has_panel(v):
                row.append(f'<td class="{_cell_class(v)}"><a href="#{ids[(name, x)]}" title="{title}">{mark}</a></td>')
            else:
                row.append(f'<td class="{_cell_class(v)}"><span title="{title}">{mark}</span></td>')
        row.append("</tr>")
        out.append("".join(row))
    out.append("</tbody></table>")
    return out


def _across(report: CheckReport, ids: dict[tuple[str, str], str], lib: m.Library) -> list[str]:
    across = [v for v in report.verdicts if not v.version]
    if not across:
        return []
    out = ["<h3>Properties across versions</h3>", '<table class="cross"><tr><th>property</th><th>verdict</th>'
           "<th>expected</th><th>sentence</th></tr>"]
    for v in across:
        mark = f"{render_text.SYMBOL[v.verdict]} {v.verdict}"
        if _has_panel(v):
            mark = f'<a href="#{ids[(v.property_name, v.version)]}">{_e(mark)}</a>'
        else:
            mark = _e(mark)
        doc = lib.properties[v.property_name].doc if v.property_name in lib.properties else ""
        out.append(f'<tr><td><code>{_e(v.property_name)}</code></td><td class="{_cell_class(v)}">{mark}</td>'
                   f"<td>{_e(v.expected or 'none')}</td><td>{_e(doc)}</td></tr>")
    out.append("</table>")
    return out


def _panels(report: CheckReport, ids: dict[tuple[str, str], str], lib: m.Library) -> list[str]:
    out = []
    for v in report.verdicts:
        if not _has_panel(v):
            continue
        doc = lib.properties[v.property_name].doc if v.property_name in lib.properties else ""
        out.append(f'<section class="panel" id="{ids[(v.property_name, v.version)]}">')
        out.append(f"<h3>{_e(headline(v))}</h3>")
        if doc:
            out.append(f'<p class="muted">{_e(doc)}</p>')
        out.append(f"<pre>{_e(details(v))}</pre>")
        out.append('<p><a href="#matrix">back to the matrix</a></p></section>')
    return out


def _lit(f: Fixed) -> str:
    return str(f)


def _diff_tables(diffs: Sequence[DiffTable], note: str) -> list[str]:
    out = ['<h2 id="diffs">What changed between consecutive versions</h2>']
    if note:
        out.append(f'<p class="muted">Diff tables: {_e(note)}.</p>')
    if not diffs:
        if not note:
            out.append('<p class="muted">No pair of versions to compare.</p>')
        return out
    first = diffs[0]
    who = f" for caller <code>{_e(first.caller)}</code>" if first.caller else ""
    out.append(f'<p class="muted">Where <code>{_e(first.output)}</code> differs{who}: each row is a set of '
               "inputs (atoms not named take any value) on which both versions give a constant answer, "
               "decided by the rule shown; rows together cover every disagreeing input.</p>")
    for t in diffs:
        share = f"{t.disagreeing:,} of {t.total:,} inputs" if t.total else "no inputs"
        if not t.rows:
            out.append(f"<h3>{_e(t.a)} → {_e(t.b)}: no difference</h3>")
            continue
        out.append(f"<h3>{_e(t.a)} → {_e(t.b)}: {len(t.rows)} row{'s' if len(t.rows) != 1 else ''}, "
                   f"{_e(share)} disagree</h3>")
        out.append(f'<table class="diff"><tr><th>inputs</th><th>{_e(t.a)}</th><th>{_e(t.b)}</th></tr>')
        for r in t.rows:
            cube = ", ".join(str(lit) for lit in r.cube) or "every input"
            sides = []
            for s in (r.a, r.b):
                rule = f" <span class=\"muted\">by {_e(s.rule)}" + (f" ({_e(str(s.kernel))})" if s.kernel else "") + "</span>" \
                    if s.rule else ""
                sides.append(f"<td><b>{_e(show(s.value))}</b>{rule}</td>")
            out.append(f"<tr><td><code>{_e(cube)}</code></td>{''.join(sides)}</tr>")
        out.append("</table>")
    return out


def timeline_svg(t: Timeline) -> str:
    """The VMA's answer on each version as a row of marks, with the deciding rule under each."""
    step_w, left, top = 60, 20, 34
    width = left * 2 + step_w * len(t.steps)
    height = 226
    colour = {"true": "#1a7f37", "false": "#cf222e"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="timeline of {_e(t.output)}">',
             f'<line x1="{left}" y1="{top + 40}" x2="{width - left}" y2="{top + 40}" stroke="#d0d7de" stroke-width="2"/>']
    previous: str | None = None
    for i, s in enumerate(t.steps):
        x = left + step_w * i + step_w // 2
        value = show(s.value) if s.value is not None else ("none" if s.note.startswith("no such") else "depends")
        fill = colour.get(value, "#fff" if value != "depends" else "#eaeef2")
        stroke = colour.get(value, "#6e7781")
        shape = (f'<rect x="{x - 15}" y="{top + 25}" width="30" height="30" rx="4" fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
                 if s.patch else
                 f'<circle cx="{x}" cy="{top + 40}" r="15" fill="{fill}" stroke="{stroke}" stroke-width="2"/>')
        if previous is not None and previous != value:
            parts.append(f'<line x1="{x - step_w // 2}" y1="{top + 14}" x2="{x - step_w // 2}" y2="{top + 66}" '
                         'stroke="#0969da" stroke-width="2" stroke-dasharray="4 3"/>')
        previous = value
        glyph = {"true": "1", "false": "0", "depends": "?", "none": "–"}.get(value, value[:3])
        tip = f"{s.version}: {value}" + (f", decided by {s.rule} at {s.rule_at}" if s.rule else "") \
            + (f", kernel {s.kernel}" if s.kernel else "") + (f"; {s.note}" if s.note else "") \
            + (f"; depends on {', '.join(s.depends_on)}" if s.depends_on else "")
        text_fill = "#fff" if value in colour else "#1f2328"
        parts.append(f'<g><title>{_e(tip)}</title>{shape}<text x="{x}" y="{top + 45}" text-anchor="middle" '
                     f'font-size="13" font-weight="700" fill="{text_fill}">{_e(glyph)}</text></g>')
        parts.append(f'<text x="{x}" y="{top - 8}" text-anchor="middle" font-size="11" font-weight="600">{_e(s.version)}</text>')
        label = s.rule or (("on " + ", ".join(s.depends_on)) if s.depends_on else ("depends" if value == "depends" else ""))
        if label:
            parts.append(f'<text x="{x}" y="{top + 76}" text-anchor="end" font-size="11" fill="#59636e" '
                         f'transform="rotate(-50 {x} {top + 76})">{_e(label[:22])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline(t: Timeline | None, note: str, given: Sequence[Fixed], caller: str | None) -> list[str]:
    out = ['<h2 id="timeline-section">One VMA across versions</h2>']
    vma = ", ".join(_lit(f) for f in given) or "any VMA"
    if caller:
        vma = f"caller = {caller}, " + vma
    if t is None:
        out.append(f'<p class="muted">Timeline for <code>{_e(vma)}</code>: {_e(note)}.</p>')
        return out
    out.append(f"<p>The VMA <code>{_e(vma)}</code>: <code>{_e(t.output)}</code> on each version "
               "(1 yes, 0 no, ? depends on atoms not given; squares are patch versions; a dashed line marks a change; "
               "the deciding rule is written under each mark; hover for its place in the spec and kernel).</p>")
    out.append(f'<div style="overflow-x:auto">{timeline_svg(t)}</div>')
    return out


def report(report: CheckReport, lib: m.Library, diffs: Sequence[DiffTable] = (), diff_note: str = "",
           timeline: Timeline | None = None, timeline_note: str = "", given: Sequence[Fixed] = (),
           caller: str | None = None) -> str:
    ids = {(v.property_name, v.version): f"cex-{i}" for i, v in enumerate(report.verdicts)}
    summary = render_text.summary(report.verdicts)
    ok = report.exit_code == 0
    props = len({v.property_name for v in report.verdicts})
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>thpverify report</title>", f"<style>{CSS}</style></head><body>",
           "<h1>thpverify: THP eligibility, proved version by version</h1>",
           f'<p class="summary"><span class="{"ok" if ok else "fail"}">{"All as expected" if ok else "NOT as expected"}</span>'
           f" — {_e(summary)} ({len(report.versions)} versions, {props} properties; exit code {report.exit_code})</p>",
           '<p class="legend"><span>✓ proved</span><span>✗ refuted (click for the counterexample)</span>'
           '<span>∅ vacuous</span><span>? unknown</span><span>! error</span>'
           '<span><b style="outline:3px solid #cf222e;padding:0 4px">red frame</b>: not as expected</span></p>',
           '<h2 id="verdicts">Verdicts</h2>']
    out.extend(_matrix(report, ids))
    out.extend(_panels(report, ids, lib))
    out.extend(_across(report, ids, lib))
    out.extend(_timeline(timeline, timeline_note, given, caller))
    out.extend(_diff_tables(diffs, diff_note))
    files = ", ".join(report.files)
    out.append(f'<p class="muted" style="margin-top:32px">thpverify {__version__}; spec files: {_e(files)}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
