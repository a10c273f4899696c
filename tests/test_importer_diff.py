"""Candidate patches as diffs: applied in memory to the toy tree (C we wrote,
tests/fixtures/importer/toy), imported, and compared like a hand candidate."""

from __future__ import annotations

from pathlib import Path

import pytest

from thpverify.analysis.patch import patch
from thpverify.cli.importer import candidate_library
from thpverify.importer import import_patched
from thpverify.importer.ctree import KernelTree
from thpverify.importer.unidiff import apply, parse_patches
from thpverify.lang.diagnostics import SpecError

TOY = Path(__file__).parent / "fixtures" / "importer" / "toy"
HAND = Path(__file__).parent / "fixtures" / "importer" / "hand"

# The DAX rule of the toy check, lines 20-21 of mm/huge_memory.c: the fault
# path and smaps both get DAX.
HUNK = """\
@@ -18,6 +18,6 @@ bool hugepage_vma_check(struct vm_area_struct *vma, unsigned long vm_flags,
 \t    test_bit(MMF_DISABLE_THP, &vma->vm_mm->flags))
 \t\treturn false;
 \tif (vma_is_dax(vma))
-\t\treturn in_pf;
+\t\treturn in_pf || smaps;
\x20
 \twanted = (vm_flags & VM_HUGEPAGE) || hugepage_flags_always();
"""

MAIL = f"""\
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: A Developer <dev@example.org>
Subject: [PATCH] toy: let smaps see DAX
Message-ID: <toy-1@example.org>

A changelog.
---
 mm/huge_memory.c | 2 +-

diff --git a/mm/huge_memory.c b/mm/huge_memory.c
index 1111111..2222222 100644
--- a/mm/huge_memory.c
+++ b/mm/huge_memory.c
{HUNK}--
2.40.0
"""


def test_format_patch_mail_applies_and_imports() -> None:
    imp = import_patched(TOY, MAIL, "toy-hand", source="toy.mbox")
    assert imp.name == "toy-hand+diff"
    assert imp.release == "9.1.0 + [PATCH] toy: let smaps see DAX"
    assert "if (vma_is_dax) return in_pf || smaps;" in imp.text
    assert 'title "[PATCH] toy: let smaps see DAX";' in imp.text
    assert (TOY / "mm" / "huge_memory.c").read_text().count("return in_pf || smaps;") == 0  # the tree is untouched


def test_plain_diff_u_with_timestamps_and_tree_prefixes() -> None:
    plain = ("--- toy.orig/mm/huge_memory.c\t2024-01-01 00:00:00.000000000 +0000\n"
             "+++ toy/mm/huge_memory.c\t2024-01-02 00:00:00.000000000 +0000\n" + HUNK)
    assert "return in_pf || smaps;" in import_patched(TOY, plain, "toy-hand", name="cand").text


def test_quoted_printable_mail() -> None:
    qp = MAIL.replace("Message-ID:", "Content-Transfer-Encoding: quoted-printable\nMessage-ID:").replace(
        "return in_pf || smaps;", "return in_pf =7C=7C smaps;")
    assert "return in_pf || smaps;" in import_patched(TOY, qp, "toy-hand").text


def test_a_hunk_whose_lines_moved_still_applies() -> None:
    moved = MAIL.replace("@@ -18,6 +18,6 @@", "@@ -12,6 +12,6 @@")
    assert "return in_pf || smaps;" in import_patched(TOY, moved, "toy-hand").text


def test_a_series_applies_in_order() -> None:
    second = MAIL.replace("Subject: [PATCH] toy: let smaps see DAX", "Subject: [PATCH 2/2] toy: and khugepaged").replace(
        "-\t\treturn in_pf;\n+\t\treturn in_pf || smaps;", "-\t\treturn in_pf || smaps;\n+\t\treturn true;")
    imp = import_patched(TOY, MAIL + "\n" + second, "toy-hand")
    assert "if (vma_is_dax) return true;" in imp.text
    assert imp.release == "9.1.0 + [PATCH] toy: let smaps see DAX, [PATCH 2/2] toy: and khugepaged"


def test_a_hunk_that_does_not_apply_is_located_in_the_diff() -> None:
    wrong = MAIL.replace("-\t\treturn in_pf;", "-\t\treturn smaps;")
    with pytest.raises(SpecError) as exc:
        import_patched(TOY, wrong, "toy-hand", source="wrong.mbox")
    d = exc.value.diagnostics[0]
    assert (d.span.file, d.span.line) == ("wrong.mbox", 14)
    assert "hunk 1 of mm/huge_memory.c does not apply" in d.message


def test_a_diff_touching_no_function_read_is_an_error() -> None:
    other = ("--- a/Makefile\n+++ b/Makefile\n@@ -1,2 +1,2 @@\n"
             "-# A made-up tree for the importer's tests: not kernel code.\n+# changed\n VERSION = 9\n")
    with pytest.raises(SpecError, match="changes none of the functions the importer reads"):
        import_patched(TOY, other, "toy-hand")


@pytest.mark.parametrize(("text", "message"), [
    ("just words\n", "no unified diff found"),
    ("--- /dev/null\n+++ b/mm/new.c\n@@ -0,0 +1 @@\n+x\n", "creates or deletes a file"),
    ("--- a/mm/huge_memory.c\n+++ b/mm/huge_memory.c\n@@ -1,3 +1,3 @@\n x\n", "ends before its line counts"),
    ("--- a/mm/huge_memory.c\n+++ b/mm/huge_memory.c\n", "has no hunk"),
    ("--- a/mm/absent.c\n+++ b/mm/absent.c\n@@ -1 +1 @@\n-x\n+y\n", "not in the tree"),
])
def test_malformed_diffs_are_located_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as exc:
        import_patched(TOY, text, "toy-hand", source="bad.diff")
    assert exc.value.diagnostics[0].span.file == "bad.diff"


def test_apply_keeps_the_files_last_newline() -> None:
    tree = KernelTree(TOY)
    out = apply(tree, parse_patches(MAIL))
    assert out["mm/huge_memory.c"].endswith("}\n")
    assert len(out["mm/huge_memory.c"].splitlines()) == len((TOY / "mm" / "huge_memory.c").read_text().splitlines())


def test_uncovered_c_in_a_patch_is_located_in_the_patched_file() -> None:
    bad = MAIL.replace("+\t\treturn in_pf || smaps;", "+\t\treturn vma->vm_private_data;")
    with pytest.raises(SpecError) as exc:
        import_patched(TOY, bad, "toy-hand")
    d = exc.value.diagnostics[0]
    assert d.span.file.endswith("mm/huge_memory.c (patched)") and d.span.line == 21


def test_patch_report_of_the_imported_candidate(tmp_path: Path) -> None:
    diff_file = tmp_path / "toy.mbox"
    diff_file.write_text(MAIL)
    lib, name = candidate_library([HAND], TOY, diff_file, "toy-hand")
    assert name == "toy-hand+diff"
    report = patch(lib, "toy-hand", name)
    changed = {t.caller: bool(t.rows) for t in report.diffs}
    assert changed == {"page_fault": False, "smaps": True, "khugepaged": False, "madv_collapse": False}
    assert all("vma_is_dax" in str(r.cube) for t in report.diffs for r in t.rows)


def test_candidate_library_usage_errors(tmp_path: Path) -> None:
    from thpverify.errors import UsageError

    with pytest.raises(UsageError, match="--diff"):
        candidate_library([HAND], TOY, tmp_path / "absent.mbox", "toy-hand")
    (tmp_path / "d.mbox").write_text(MAIL)
    with pytest.raises(UsageError, match="no version 'v0.1'"):
        candidate_library([HAND], TOY, tmp_path / "d.mbox", "v0.1")


def test_patch_command_takes_a_diff_and_a_tree(tmp_path: Path) -> None:
    import json

    from conftest import run_cli

    diff_file = tmp_path / "toy.mbox"
    diff_file.write_text(MAIL)
    props = tmp_path / "props.thp"
    props.write_text('import "vocab.thp";\nproperty smaps_never_dax "smaps never shows DAX" {\n  callers smaps;\n'
                     '  prove vma_is_dax -> !eligible;\n  expect holds;\n}\n')
    code, out, err = run_cli("patch", "toy-hand", "--diff", str(diff_file), "--tree", str(TOY), "--spec", str(HAND),
                             "--spec", str(props), "--json")
    assert code == 10, err
    doc = json.loads(out)
    assert doc["candidate"] == "toy-hand+diff"
    assert [c["property"] for c in doc["properties"] if c["change"] == "newly failing"] == ["smaps_never_dax"]
    assert {t["caller"]: len(t["rows"]) > 0 for t in doc["diffs"]}["smaps"] is True
    code, _, err = run_cli("patch", "toy-hand", "--diff", str(diff_file), "--spec", str(HAND))
    assert code == 2 and "--diff and --tree go together" in err


def test_a_diff_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    import os

    from conftest import run_cli

    os.mkfifo(tmp_path / "pipe.diff")
    code, _, err = run_cli("patch", "toy-hand", "--diff", str(tmp_path / "pipe.diff"), "--tree", str(TOY), "--spec", str(HAND))
    assert code == 2 and "not a regular file" in err
