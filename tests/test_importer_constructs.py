"""The importer's later constructs on C we wrote ourselves: one check per
caller (toy-percaller, as 5.19 had), the caller as an enum and an order set
held in an unsigned int (toy-tva, as 6.14 and 6.18 have), a loop that
returns the orders left, and a carried-index filter (as 6.11 has); each
with the located error for C they do not read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from thpverify.importer import import_tree
from thpverify.importer.absmap import AbstractionMap, map_path, parse_map
from thpverify.importer.compare import compare, load_with, proved_equal
from thpverify.lang.diagnostics import SpecError

FIXTURES = Path(__file__).parent / "fixtures" / "importer"
PERCALLER = FIXTURES / "toy-percaller"
TVA = FIXTURES / "toy-tva"
HAND = FIXTURES / "hand"


def _copy(tmp_path: Path, tree: Path, rel: str, old: str, new: str) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(tree, root)
    f = root / rel
    assert old in f.read_text()
    f.write_text(f.read_text().replace(old, new))
    return root


def _error(root: Path, amap: AbstractionMap | None = None) -> str:
    with pytest.raises(SpecError) as exc:
        import_tree(root, amap=amap)
    d = exc.value.diagnostics[0]
    return f"{Path(d.span.file).name}:{d.span.line}: {d.message} | {d.hint}"


def _equivalent(tree: Path, hand: str) -> list[tuple[str, str | None]]:
    imp = import_tree(tree, name=f"{hand}-imported")
    lib = load_with({"imported.thp": imp.text}, [HAND])
    return [(c.output, c.caller) for c in compare(lib, hand, imp.name) if not c.equivalent]


# ------------------------------------------------------------ one check per caller


def test_per_caller_decision_imports_equivalent_to_its_hand_spec() -> None:
    assert _equivalent(PERCALLER, "toy-percaller-hand") == []


def test_per_caller_decision_writes_each_callers_functions() -> None:
    text = import_tree(PERCALLER).text
    assert "if (caller == page_fault) return __transparent_hugepage_enabled() && create_huge_pmd();" in text
    assert "if (caller == khugepaged) return hugepage_vma_check(VM_HUGEPAGE, VM_NOHUGEPAGE);" in text
    assert "@8: return transparent_hugepage_active();" in text  # what show_smap prints


def test_returns_entry_reads_each_listed_value() -> None:
    text = import_tree(PERCALLER).text
    assert "if (!vma_is_anonymous && !huge_fault) return false;" in text  # VM_FAULT_FALLBACK
    assert "@10: return true;" in text  # the ->huge_fault call


def test_a_value_the_returns_entry_does_not_list_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path, PERCALLER, "mm/memory.c", "return VM_FAULT_FALLBACK;", "return VM_FAULT_OOM;")
    assert _error(root).startswith("memory.c:7: create_huge_pmd returns `VM_FAULT_OOM`, a value the map's returns entry does not read")


def test_a_return_type_the_map_does_not_read_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path, PERCALLER, "mm/memory.c", "static inline vm_fault_t", "static inline int")
    msg = _error(root)
    assert msg.startswith("memory.c:4: create_huge_pmd returns int, neither bool nor a set of orders")
    assert 'returns "int" {' in msg


def test_per_caller_decision_needs_all_its_functions(tmp_path: Path) -> None:
    root = _copy(tmp_path, PERCALLER, "mm/memory.c", "create_huge_pmd(struct", "toy_other(struct")
    msg = _error(root)
    assert "none of the map's decision functions is defined" in msg and "create_huge_pmd (mm/memory.c)" in msg


def test_per_caller_entry_parses_into_data() -> None:
    amap = parse_map('decision per caller { vm_flags = "vm_flags"; page_fault = "f" in "a.h" && "g" in "b.c"; '
                     'smaps = "h" in "c.c"; printed_by "show" in "d.c"; }\nabsent madv_collapse, khugepaged before "9.4" "not yet";', "m")
    pc = amap.per_caller[0]
    assert pc.callers == (("page_fault", (("f", "a.h"), ("g", "b.c"))), ("smaps", (("h", "c.c"),)))
    assert pc.bindings == (("vm_flags", "vm_flags"),)
    assert [(a.callers, a.before, a.reason) for a in amap.absent] == [(("madv_collapse", "khugepaged"), "9.4", "not yet")]


def test_absent_callers_are_assumed_only_before_their_release() -> None:
    amap = parse_map(map_path().read_text(encoding="utf-8") + 'absent khugepaged before "9.4" "toy";\n', "m")
    percaller = import_tree(PERCALLER, amap=amap).text  # 9.3.0
    assert 'assume no_khugepaged "toy": caller != khugepaged;' in percaller and "assume no_madv_collapse" not in percaller
    assert "assume" not in import_tree(TVA, amap=amap).text  # 9.4.0


# ------------------------------------------------------------ the caller as an enum, unsigned int order sets


def test_enum_caller_tree_is_equivalent_to_its_hand_spec_including_allowable() -> None:
    assert _equivalent(TVA, "toy-tva-hand") == []


def test_enum_type_becomes_a_caller_parameter_and_constants_its_values() -> None:
    text = import_tree(TVA).text
    assert "thp_vma_allowable_orders(hugepage: bool, type: caller, orders: set of order)" in text
    assert "if (type != madv_collapse && !hugepage) return {};" in text
    assert "if (type == smaps || type == khugepaged || type == madv_collapse) {" in text  # switch, default case
    assert "!empty(thp_vma_allowable_orders(vma_VM_HUGEPAGE, smaps, {PMD_ORDER}))" in text  # TVA_SMAPS passed by smaps
    assert "!empty(thp_vma_allowable_orders(VM_HUGEPAGE, caller, {PMD_ORDER}))" in text  # the decision entry's binding


def test_an_enum_argument_the_map_cannot_name_is_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path, TVA, "fs/proc/task_mmu.c", "TVA_SMAPS, BIT", "toy_who(), BIT")
    assert "the argument `toy_who()` of thp_vma_allowable_orders is not a enum tva_type the map names" in _error(root)


def test_comparing_two_constants_of_the_enum_folds(tmp_path: Path) -> None:
    root = _copy(tmp_path, TVA, "include/linux/huge_mm.h", "type != TVA_FORCED_COLLAPSE", "TVA_SMAPS != TVA_FORCED_COLLAPSE")
    assert "if (true && !hugepage) return {};" in import_tree(root).text


def test_unsigned_int_order_set_needs_the_orders_entry(tmp_path: Path) -> None:
    root = _copy(tmp_path, TVA, "mm/shmem.c", "shmem_huge_global_enabled(struct", "toy_global(struct")
    root = _copy(tmp_path / "b", root, "include/linux/huge_mm.h", "shmem_huge_global_enabled(vma)", "toy_global(vma)")
    msg = _error(root)
    assert msg.startswith("shmem.c:4: toy_global returns unsigned int, neither bool nor a set of orders")
    assert "orders toy_global;" in msg


def test_a_constant_test_reads_only_the_branch_taken() -> None:
    text = import_tree(TVA).text
    assert "toy_orders_for_a_write" not in text and "@11: return {PMD_ORDER};" in text  # `if (vma)`: the map says vma is true


def test_a_set_compared_with_zero_is_not_empty() -> None:
    assert "if (!empty(global_orders)) return orders & global_orders;" in import_tree(TVA).text


def test_order_loop_that_returns_the_orders_left_with_a_value_set_twice() -> None:
    text = import_tree(TVA).text
    assert "orders &= (vma_is_anonymous ? block_fits : pgoff_aligned & block_fits);\n    if (!empty(orders)) return orders;" in text


def test_a_value_read_before_it_is_set_again_is_still_carried(tmp_path: Path) -> None:
    root = _copy(tmp_path, TVA, "include/linux/huge_mm.h", "addr = vma->vm_end;\n", "")
    assert "`addr` is carried from one order to the next" in _error(root)


# ------------------------------------------------------------ a carried-index filter

_CARRIED = ('filter carried idx from "vma->vm_pgoff" step "idx+(1<<order)" "toy_covers(vma,idx)" '
            '=> "within_size" import "toy-extra.thp";\n')


def _carried_map(entry: str = _CARRIED) -> AbstractionMap:
    return parse_map(map_path().read_text(encoding="utf-8") + entry, "test.map")


def _carried_tree(tmp_path: Path, start: str = "vma->vm_pgoff", step: str = "idx + (1 << order)",
                  test: str = "toy_covers(vma, idx)") -> Path:
    loop = (f"static inline unsigned long toy_fitting(struct vm_area_struct *vma, unsigned long orders)\n{{\n"
            f"\tint order = highest_order(orders);\n\tpgoff_t idx = {start};\n\n\twhile (orders) {{\n"
            f"\t\tidx = {step};\n\t\tif ({test})\n\t\t\treturn orders;\n\t\torder = next_order(&orders, order);\n\t}}\n\treturn 0;\n}}\n")
    root = tmp_path / "tree"
    shutil.copytree(TVA, root)
    h = root / "include" / "linux" / "huge_mm.h"
    text = h.read_text()
    start_at = text.index("static inline unsigned long toy_fitting")
    end_at = text.index("static inline unsigned long thp_vma_allowable_orders")
    h.write_text(text[:start_at] + loop + "\n" + text[end_at:])
    return root


def test_carried_filter_keeps_the_entrys_set_and_imports_its_spec(tmp_path: Path) -> None:
    imp = import_tree(_carried_tree(tmp_path), amap=_carried_map())
    assert "orders &= within_size;\n    if (!empty(orders)) return orders;" in imp.text
    assert 'import "toy-extra.thp";' in imp.text


@pytest.mark.parametrize(("kw", "value", "says"), [
    ("start", "vma->vm_start", "from `vma->vm_start`"),
    ("step", "idx + order", "as `idx = idx+order`"),
])
def test_carried_filter_checks_the_start_and_the_update(tmp_path: Path, kw: str, value: str, says: str) -> None:
    msg = _error(_carried_tree(tmp_path, **{kw: value}), _carried_map())
    assert "`idx` is carried from one order to the next" in msg and says in msg and "the map's carried filter for it says" in msg


def test_carried_filter_checks_the_test(tmp_path: Path) -> None:
    msg = _error(_carried_tree(tmp_path, test="toy_other(vma, idx)"), _carried_map())
    assert "the order test `toy_other(vma,idx)` is not the one of the map's carried filter for it (`toy_covers(vma,idx)`)" in msg


def test_a_carried_value_without_an_entry_names_the_entry(tmp_path: Path) -> None:
    msg = _error(_carried_tree(tmp_path), _carried_map(""))
    assert "`idx` is carried from one order to the next" in msg and "filter carried idx from" in msg


def test_a_set_valued_output_is_proved_equal_or_left_to_the_diff_table() -> None:
    hand = (HAND / "toy-tva-hand.thp").read_text(encoding="utf-8")
    wrong = hand.replace('"toy-tva-hand"', '"toy-tva-wrong"').replace("if (!vma_is_anonymous) return shmem_enabled == deny",
                                                                       "if (!vma_is_anonymous) return shmem_enabled != always")
    imp = import_tree(TVA, name="toy-tva-imported")
    lib = load_with({"imported.thp": imp.text, "wrong.thp": wrong}, [HAND])
    table = proved_equal(lib, "toy-tva-hand", imp.name, "allowable", "smaps")
    assert table is not None and not table.rows and "proved by both engines" in table.checks
    assert proved_equal(lib, "toy-tva-wrong", imp.name, "allowable", "smaps") is None


def _enum_type_cases() -> list[tuple[str, str, str]]:
    amap = parse_map(map_path().read_text(encoding="utf-8"), "m")
    return [(ctype, const, value) for ctype, (_, table, _) in amap.enum_types.items() for const, value in table.items()]


@pytest.mark.parametrize(("ctype", "const", "value"), _enum_type_cases(), ids=[c for _, c, _ in _enum_type_cases()])
def test_every_enum_type_entry(tmp_path: Path, ctype: str, const: str, value: str) -> None:
    root = _copy(tmp_path, TVA, "include/linux/huge_mm.h", "type != TVA_FORCED_COLLAPSE", f"type != {const}")
    assert f"if (type != {value} && !hugepage) return {{}};" in import_tree(root).text
    assert ctype == "enum tva_type"


# ------------------------------------------------------------ --arch reaches the import's library


def test_the_architecture_reaches_the_comparison() -> None:
    # toy-orders-hand writes thp_eligible's anonymous orders as {2..9}, the import as
    # {2..PMD_ORDER}: the same on x86-64, not with arm64's 64 KiB pages (PMD_ORDER 13)
    imp = import_tree(FIXTURES / "toy-orders", name="toy-orders-imported")
    x86 = load_with({"imported.thp": imp.text}, [HAND])
    arm = load_with({"imported.thp": imp.text}, [HAND], arch="arm64-64k")
    assert proved_equal(x86, "toy-orders-hand", imp.name, "thp_eligible", None) is not None
    assert proved_equal(arm, "toy-orders-hand", imp.name, "thp_eligible", None) is None


@pytest.mark.parametrize("command", ["import", "patch"])
def test_arch_option_is_passed_to_import_and_patch(tmp_path: Path, command: str) -> None:
    from conftest import run_cli

    if command == "import":
        args = ["import", "--tree", str(FIXTURES / "toy-orders"), "--check-against", "toy-orders-hand"]
    else:
        (tmp_path / "d.diff").write_text("--- a/include/linux/huge_mm.h\n+++ b/include/linux/huge_mm.h\n@@ -16,1 +16,1 @@\n"
                                         "-\tbool in_pf = tva_flags & TVA_IN_PF;\n+\tbool in_pf = (tva_flags & TVA_IN_PF);\n")
        args = ["patch", "toy-orders-hand", "--diff", str(tmp_path / "d.diff"), "--tree", str(FIXTURES / "toy-orders")]
    code, _, err = run_cli(*args, "--spec", str(HAND), "--arch", "toy-arch")
    assert code == 2 and "no architecture 'toy-arch'" in err
