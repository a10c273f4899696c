"""JUnit XML for CI test reports: one testcase per property x version.

The layout is the one Jenkins, GitLab and GitHub test reporters read (and
pytest's --junitxml writes): <testsuites> with one <testsuite> per spec
file, each property x version a <testcase> named `property[version]`. A
verdict as expected passes; one that differs from its expectation is a
<failure> whose text is the counterexample and the deciding rule; an
internal error or an inconclusive answer (solver unknown) is an <error>.
No timestamps or durations: the output is the same byte for byte on
every run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .. import model as m
from ..results import CheckReport, Verdict, VerdictKind
from .sarif import Status, details, headline, property_place, status


def case_name(v: Verdict) -> str:
    return f"{v.property_name}[{v.version}]" if v.version else v.property_name


def _case(lib: m.Library, v: Verdict, file: str) -> ET.Element:
    place = property_place(lib, v)
    classname = file.removesuffix(".thp").replace("/", ".") if file else "thpverify"
    attrs = {"classname": classname, "name": case_name(v), "time": "0"}
    if place is not None:
        attrs["file"] = place.file
        attrs["line"] = str(place.line)
    case = ET.Element("testcase", attrs)
    kind = status(v)
    if kind is Status.FAIL and v.verdict is not VerdictKind.ERROR:
        failure = ET.SubElement(case, "failure", {"message": headline(v), "type": "unexpected-verdict"})
        failure.text = details(v)
    elif kind is not Status.PASS:
        error = ET.SubElement(case, "error", {"message": headline(v), "type": v.verdict})
        error.text = details(v)
    else:
        out = ET.SubElement(case, "system-out")
        out.text = details(v)
    return case


def _counts(cases: list[ET.Element]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(1 for c in cases if c.find("failure") is not None)),
        "errors": str(sum(1 for c in cases if c.find("error") is not None)),
        "skipped": "0",
        "time": "0",
    }


def check_report(report: CheckReport, lib: m.Library) -> str:
    by_file: dict[str, list[ET.Element]] = {}
    for v in report.verdicts:
        place = property_place(lib, v)
        file = place.file if place is not None else ""
        by_file.setdefault(file, []).append(_case(lib, v, file))
    root = ET.Element("testsuites", {"name": "thpverify check", **_counts([c for cs in by_file.values() for c in cs])})
    for file, cases in by_file.items():
        suite = ET.SubElement(root, "testsuite", {"name": file or "thpverify", **_counts(cases)})
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", {"name": "versions", "value": " ".join(report.versions)})
        suite.extend(cases)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
