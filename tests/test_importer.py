"""The importer on C we wrote ourselves (tests/fixtures/importer/toy): every
construct it reads, the equivalence of the result with a hand spec, every
entry of the abstraction map, and every located error."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from thpverify.analysis.diff import diff
from thpverify.importer import import_tree
from thpverify.importer.absmap import canonical_text, load_map, parse_map
from thpverify.importer.compare import compare, load_with
from thpverify.lang.diagnostics import SpecError

TOY = Path(__file__).parent / "fixtures" / "importer" / "toy"
TOY_ORDERS = Path(__file__).parent / "fixtures" / "importer" / "toy-orders"
HAND = Path(__file__).parent / "fixtures" / "importer" / "hand"
EMPTY = Path(__file__).parent / "fixtures" / "importer" / "empty"
MAP = load_map()


def tree_with(tmp_path: Path, body: str, params: str = "bool smaps, bool in_pf, bool enforce_sysfs",
              extra: str = "", call: str = "vma, vma->vm_flags, true, false, true", returns: str = "bool") -> Path:
    """A tree whose decision function has the given body (C we write here)."""
    root = tmp_path / "tree"
    shutil.copytree(TOY, root)
    (root / "mm" / "huge_memory.c").write_text(
        f"{extra}\n{returns} hugepage_vma_check(struct vm_area_struct *vma, unsigned long vm_flags, {params})\n{{\n{body}\n}}\n")
    (root / "fs" / "proc" / "task_mmu.c").write_text(
        f"static int show_smap(struct seq_file *m, void *v)\n{{\n\tstruct vm_area_struct *vma = v;\n\n"
        f"\tseq_printf(m, \"%d\", hugepage_vma_check({call}));\n\treturn 0;\n}}\n")
    return root


def predicate_body(text: str, name: str) -> str:
    found = re.search(rf"predicate {name}\(.*?\{{\n(.*?)\n  \}}", text, re.S)
    assert found, text
    return found.group(1)


def error_of(root: Path) -> SpecError:
    with pytest.raises(SpecError) as exc:
        import_tree(root)
    return exc.value


# ------------------------------------------------------------ the toy tree


def test_toy_tree_imports_and_cites_its_lines() -> None:
    imp = import_tree(TOY)
    assert imp.release == "9.1.0" and imp.name == "import-9.1.0"
    assert imp.functions == ("mm/huge_memory.c:hugepage_vma_check", "include/linux/huge_mm.h:toy_fits",
                             "mm/shmem.c:shmem_is_huge", "include/linux/huge_mm.h:toy_file_ok", "fs/proc/task_mmu.c:show_smap")
    assert "vm_mm @15..16: if (!vm_mm) return false;" in imp.text
    assert 'from shmem_is_huge in "mm/shmem.c" lines 6..30' in imp.text


def test_toy_tree_is_equivalent_to_its_hand_spec_per_caller_and_output() -> None:
    imp = import_tree(TOY, name="toy-imported")
    lib = load_with({"imported.thp": imp.text}, [HAND])
    results = compare(lib, "toy-hand", "toy-imported")
    assert [(c.output, c.caller) for c in results] == [("eligible", c) for c in lib.atoms["caller"].values] + [("thp_eligible", None)]
    assert all(c.equivalent for c in results), [c.table.rows for c in results]
    from thpverify.render.importer import check_text

    text = check_text(imp, "toy-hand", results)
    assert "  eligible, caller madv_collapse  equivalent" in text and text.endswith("toy-imported is equivalent to toy-hand\n")


def test_order_set_tree_is_equivalent_to_its_hand_spec() -> None:
    """6.8-style: per-size masks, tva_flags, a macro from the tree, an order loop."""
    imp = import_tree(TOY_ORDERS, name="toy-orders-imported")
    lib = load_with({"imported.thp": imp.text}, [HAND])
    results = compare(lib, "toy-orders-hand", "toy-orders-imported")
    assert {c.output for c in results} == {"eligible", "thp_eligible", "allowable"}
    assert all(c.equivalent for c in results), [c.table.rows for c in results]


def test_order_loop_becomes_the_filter_of_the_map() -> None:
    body = predicate_body(import_tree(TOY_ORDERS).text, "thp_vma_allowable_orders")
    assert "orders &= (vma_is_anonymous ? block_fits : pgoff_aligned & block_fits);" in body
    assert MAP.filters and "orders" in MAP.orders and "mask" in MAP.orders


def test_macro_of_the_tree_and_constant_masks() -> None:
    text = import_tree(TOY_ORDERS).text
    assert "{2..PMD_ORDER} | ({PMD_ORDER} | {PUD_ORDER})" in text  # THP_ORDERS_ALL, read from the tree's #define
    assert "thp_vma_allowable_orders(vma_VM_HUGEPAGE, false, true, " in text  # TVA_SMAPS | TVA_ENFORCE_SYSFS
    assert "if (VM_MIXEDMAP || VM_PFNMAP) return {};" in text  # vm_flags & (VM_PFNMAP | VM_MIXEDMAP)


def _orders_tree(tmp_path: Path, old: str, new: str) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(TOY_ORDERS, root)
    h = root / "include" / "linux" / "huge_mm.h"
    assert old in h.read_text()
    h.write_text(h.read_text().replace(old, new))
    return root


def test_order_loop_with_an_unmapped_test_is_an_error(tmp_path: Path) -> None:
    root = _orders_tree(tmp_path, "thp_vma_suitable_order(vma, addr, order)", "toy_other_test(vma, addr, order)")
    d = error_of(root).diagnostics[0]
    assert "no filter for the order test `toy_other_test(vma,(vma->vm_end-(PAGE_SIZE<<order)),order)`" in d.message
    assert d.hint.startswith('the map entry that would cover it: filter "toy_other_test(')


def test_order_loop_that_gathers_the_orders_left(tmp_path: Path) -> None:
    root = _orders_tree(tmp_path, "addr, order))\n\t\t\t\tbreak;", "addr, order)) {\n\t\t\t\tmask |= orders;\n\t\t\t\tbreak;\n\t\t\t}")
    body = predicate_body(import_tree(root).text, "thp_vma_allowable_orders")
    assert "orders &= (vma_is_anonymous ? block_fits : pgoff_aligned & block_fits);\n      mask |= orders;" in body


def test_a_value_carried_from_order_to_order_is_an_error(tmp_path: Path) -> None:
    root = _orders_tree(tmp_path, "addr = vma->vm_end - (PAGE_SIZE << order);", "addr = addr - (PAGE_SIZE << order);")
    assert "`addr` is carried from one order to the next" in error_of(root).diagnostics[0].message


def test_a_conditional_flag_word(tmp_path: Path) -> None:
    body = "\tunsigned long flags = in_pf ? vma->vm_flags : 0;\n\n\treturn flags & VM_HUGEPAGE;"
    ret = predicate_body(import_tree(tree_with(tmp_path, body)).text, "hugepage_vma_check").strip()
    assert ret.endswith("return in_pf ? vma_VM_HUGEPAGE : false;")


def test_a_loop_of_another_shape_is_an_error(tmp_path: Path) -> None:
    root = _orders_tree(tmp_path, "order = next_order(&orders, order);", "order--;")
    assert "the last statement of an order loop" in error_of(root).diagnostics[0].message


def test_a_macro_the_map_cannot_read_is_located_at_its_use(tmp_path: Path) -> None:
    root = _orders_tree(tmp_path, "BIT(PUD_ORDER))", "BIT(PUD_ORDER) | toy_mystery)")
    d = error_of(root).diagnostics[0]
    assert "macro THP_ORDERS_ALL_FILE (include/linux/huge_mm.h:10)" in d.message


def test_a_changed_rule_is_not_equivalent(tmp_path: Path) -> None:
    """The comparison can fail: drop the DAX rule and the fault path differs."""
    root = tmp_path / "tree"
    shutil.copytree(TOY, root)
    c = root / "mm" / "huge_memory.c"
    c.write_text(c.read_text().replace("\tif (vma_is_dax(vma))\n\t\treturn in_pf;\n", ""))
    imp = import_tree(root, name="toy-changed")
    lib = load_with({"imported.thp": imp.text}, [HAND])
    table = diff(lib, "toy-hand", "toy-changed", "khugepaged")
    assert table.rows and all("vma_is_dax" in str(r.cube) for r in table.rows)


def test_switch_with_fallthrough_break_and_default() -> None:
    body = predicate_body(import_tree(TOY).text, "shmem_is_huge")
    assert "if (tmpfs_huge == within_size || tmpfs_huge == advise) {" in body  # fallthrough joins the cases
    assert body.rstrip().endswith("@29: return true;")  # the default breaks out to the code after the switch


def test_helper_arguments_are_put_in(tmp_path: Path) -> None:
    """A pointer or integer argument is read through: `mm` is vma->vm_mm."""
    body = predicate_body(import_tree(TOY).text, "shmem_is_huge")
    assert "vm_mm && hugepage" in body


def test_bool_local_becomes_let_and_assignment() -> None:
    body = predicate_body(import_tree(TOY).text, "hugepage_vma_check")
    assert "let wanted = false;" in body and "wanted = hugepage || (thp_enabled == always);" in body


def test_else_if_and_ternary() -> None:
    body = predicate_body(import_tree(TOY).text, "hugepage_vma_check")
    assert "} else {" in body and "return huge_fault ? true : false;" in body


def test_config_picks_the_branch(tmp_path: Path) -> None:
    """#ifdef CONFIG_TRANSPARENT_HUGEPAGE: the map says y, so the stub in #else is not read."""
    assert "block_fits" in predicate_body(import_tree(TOY).text, "toy_fits")
    root = tmp_path / "tree"
    shutil.copytree(TOY, root)
    off = parse_map(MAP_TEXT.replace("config CONFIG_TRANSPARENT_HUGEPAGE,", "config CONFIG_TRANSPARENT_HUGEPAGE = n;\nconfig"),
                    "test.map")
    assert predicate_body(import_tree(root, amap=off).text, "toy_fits").strip() == "@19: return false;"


MAP_TEXT = Path(MAP.path).read_text()


def test_import_is_deterministic() -> None:
    assert import_tree(TOY).text == import_tree(TOY).text


# ------------------------------------------------------------ every map entry


def _expr_cases() -> list[tuple[str, str]]:
    return [(pattern, dsl) for pattern, (dsl, _) in MAP.exprs.items()]


@pytest.mark.parametrize(("pattern", "dsl"), _expr_cases(), ids=[p for p, _ in _expr_cases()])
def test_every_expr_entry_translates_and_typechecks(tmp_path: Path, pattern: str, dsl: str) -> None:
    # an entry for a set of orders is read where the C holds one: a function returning unsigned long
    orders = dsl.startswith("{") or dsl.startswith(("huge_anon_orders", "huge_shmem_orders"))
    root = tree_with(tmp_path, f"\treturn {pattern};", returns="unsigned long" if orders else "bool")
    imp = import_tree(root, name="probe")
    body = predicate_body(imp.text, "hugepage_vma_check")
    assert body.strip().endswith(f"return {dsl};") or body.strip().endswith(f"return ({dsl});"), body
    assert "probe" in load_with({"probe.thp": imp.text}, [EMPTY]).versions


def _bit_cases() -> list[tuple[str, str, str]]:
    return [(word, bit, atom) for word, bits in MAP.flags.items() for bit, (atom, _) in bits.items()]


@pytest.mark.parametrize(("word", "bit", "atom"), _bit_cases(), ids=[f"{w}&{b}" for w, b, _ in _bit_cases()])
def test_every_flags_entry(tmp_path: Path, word: str, bit: str, atom: str) -> None:
    imp = import_tree(tree_with(tmp_path, f"\treturn {word} & {bit};"), name="probe")
    ret = predicate_body(imp.text, "hugepage_vma_check").strip()
    other = MAP.flags["vma->vm_flags"].get(bit, ("",))[0]
    if word == "vm_flags" and other != atom:
        # a bit that differs between the argument and the VMA's flags is a parameter,
        # which eligible() fills with this word's atom
        param = bit.removeprefix("VM_").lower()
        assert ret.endswith(f"return {param};")
        assert re.search(rf"return hugepage_vma_check\({atom}, ", imp.text)
    else:
        assert ret.endswith(f"return {atom};")
    load_with({"probe.thp": imp.text}, [EMPTY])


def _enum_cases() -> list[tuple[str, str, str, str]]:
    return [(key, atom, const, value) for key, (atom, table, _) in MAP.enums.items() for const, value in table.items()]


@pytest.mark.parametrize(("key", "atom", "const", "value"), _enum_cases(), ids=[f"{k}=={c}" for k, _, c, _ in _enum_cases()])
def test_every_enum_entry(tmp_path: Path, key: str, atom: str, const: str, value: str) -> None:
    imp = import_tree(tree_with(tmp_path, f"\treturn {key} == {const};"), name="probe")
    assert predicate_body(imp.text, "hugepage_vma_check").strip().endswith(f"return {atom} == {value};")
    load_with({"probe.thp": imp.text}, [EMPTY])


@pytest.mark.parametrize(("test", "dsl"), [(k, d) for k, (d, _) in MAP.filters.items()], ids=list(MAP.filters))
def test_every_filter_entry(tmp_path: Path, test: str, dsl: str) -> None:
    root = _orders_tree(tmp_path, "thp_vma_suitable_order(vma, addr, order)", test)
    body = predicate_body(import_tree(root).text, "thp_vma_allowable_orders")
    assert f"orders &= {dsl};" in body or f"orders &= ({dsl});" in body


def test_every_config_and_decision_entry_is_used() -> None:
    assert {e.key for e in MAP.entries if e.kind == "config"} == set(MAP.config)
    assert MAP.config["CONFIG_TRANSPARENT_HUGEPAGE"] is True
    assert [d.function for d in MAP.decisions] == [e.key for e in MAP.entries if e.kind == "decision"]
    assert import_tree(TOY).decision == MAP.decisions[0].function


def test_map_patterns_are_canonical_whatever_the_spacing() -> None:
    assert canonical_text("a -> b & ( 1 << C )") == canonical_text("a->b&(1<<C)") == "a->b&(1<<C)"
    assert canonical_text("unsigned  long x") == "unsigned long x"


def test_a_map_entry_written_twice_is_an_error() -> None:
    with pytest.raises(SpecError, match="mapped twice"):
        parse_map('expr "a" => "true";\nexpr "a" => "false";\n', "twice.map")


def test_a_map_that_does_not_parse_is_located() -> None:
    with pytest.raises(SpecError) as exc:
        parse_map('expr "a" => ;\n', "bad.map")
    assert str(exc.value.diagnostics[0].span) == "bad.map:1:13"


# ------------------------------------------------------------ errors


def test_uncovered_expression_is_located_with_the_entry_that_would_cover_it(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "\tif (!vma->vm_mm)\n\t\treturn false;\n\treturn vma->vm_private_data != NULL;")
    d = error_of(root).diagnostics[0]
    assert (d.span.file, d.span.line, d.span.col) == (str(root / "mm" / "huge_memory.c"), 6, 9)
    assert "`vma->vm_private_data!=NULL`" in d.message
    assert 'expr "vma->vm_private_data!=NULL" => ' in d.hint


def test_uncovered_value_of_an_argument_is_located_at_its_use(tmp_path: Path) -> None:
    extra = "static inline bool toy_helper(struct vm_area_struct *vma, unsigned long addr)\n{\n\treturn addr;\n}\n"
    root = tree_with(tmp_path, "\treturn toy_helper(vma, vma->vm_start);", extra=extra)
    d = error_of(root).diagnostics[0]
    assert d.span.line == 3 and "`vma->vm_start`" in d.message and "the value of `addr`" in d.message


def test_unread_statement_is_an_error(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "\tint i;\n\n\tfor (i = 0; i < 2; i++)\n\t\tcontinue;\n\treturn true;")
    d = error_of(root).diagnostics[0]
    assert d.span.line == 6 and "for statement" in d.message


def test_unmapped_bit_is_an_error(tmp_path: Path) -> None:
    d = error_of(tree_with(tmp_path, "\treturn vm_flags & VM_LOCKED;")).diagnostics[0]
    assert "no bit VM_LOCKED" in d.message and 'VM_LOCKED => "<atom>"' in d.hint


def test_unmapped_enum_case_is_an_error(tmp_path: Path) -> None:
    d = error_of(tree_with(tmp_path, "\treturn shmem_huge == SHMEM_HUGE_SOMETIMES;")).diagnostics[0]
    assert "no case SHMEM_HUGE_SOMETIMES" in d.message


def test_switch_on_an_unmapped_value_is_an_error(tmp_path: Path) -> None:
    d = error_of(tree_with(tmp_path, "\tswitch (vma->vm_pgoff) {\n\tdefault:\n\t\treturn true;\n\t}")).diagnostics[0]
    assert "switch on `vma->vm_pgoff`" in d.message and 'enum "vma->vm_pgoff"' in d.hint


def test_local_assigned_in_a_branch_is_ambiguous(tmp_path: Path) -> None:
    body = ("\tstruct mm_struct *mm = NULL;\n\n\tif (in_pf)\n\t\tmm = vma->vm_mm;\n\treturn mm && in_pf;")
    d = error_of(tree_with(tmp_path, body)).diagnostics[0]
    assert "either of two values" in d.message


def test_recursion_is_an_error(tmp_path: Path) -> None:
    extra = ("static bool toy_loop(struct vm_area_struct *vma, bool again)\n{\n\treturn again && toy_loop(vma, false);\n}\n")
    d = error_of(tree_with(tmp_path, "\treturn toy_loop(vma, true);", extra=extra)).diagnostics[0]
    assert "calls itself" in d.message


def test_helper_that_does_not_return_bool_is_an_error(tmp_path: Path) -> None:
    extra = "static int toy_count(struct vm_area_struct *vma)\n{\n\treturn 1;\n}\n"
    d = error_of(tree_with(tmp_path, "\treturn toy_count(vma);", extra=extra)).diagnostics[0]
    assert "returns int, neither bool nor a set of orders" in d.message


def test_function_that_may_end_without_return_is_an_error(tmp_path: Path) -> None:
    d = error_of(tree_with(tmp_path, "\tif (in_pf)\n\t\treturn true;")).diagnostics[0]
    assert "may end without a return" in d.message


def test_a_tree_without_the_decision_function(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "\treturn true;")
    c = root / "mm" / "huge_memory.c"
    c.write_text(c.read_text().replace("hugepage_vma_check", "something_else"))
    assert "none of the map's decision functions" in error_of(root).diagnostics[0].message


def test_a_tree_without_a_makefile(tmp_path: Path) -> None:
    assert "has no Makefile" in error_of(tmp_path).diagnostics[0].message


def test_a_decision_called_twice_by_smaps_is_an_error(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "\treturn true;", call="vma, vma->vm_flags, true, false, hugepage_vma_check(vma, 0, 0, 0, 0)")
    assert "2 times, not once" in error_of(root).diagnostics[0].message


# ------------------------------------------------------------ the command


def test_cli_writes_the_spec(tmp_path: Path) -> None:
    code, out, err = run_cli("import", "--tree", str(TOY), "--name", "toy")
    assert code == 0 and out.startswith("// Imported by") and 'version "toy"' in out
    target = tmp_path / "toy.thp"
    assert run_cli("import", "--tree", str(TOY), "--output", str(target))[0] == 0
    assert target.read_text() == import_tree(TOY).text


def test_cli_uncovered_c_exits_2_with_file_line_col(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "\treturn vma->vm_private_data;")
    code, out, err = run_cli("import", "--tree", str(root))
    assert code == 2 and f"{root / 'mm' / 'huge_memory.c'}:4:9: error:" in err and "Traceback" not in err


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli("import", "--tree", str(tmp_path / "absent"))[0] == 2
    assert run_cli("import", "--tree", str(TOY), "--spec", str(HAND), "--check-against", "v9.9")[0] == 2
    assert run_cli("import", "--tree", str(TOY), "--spec", str(HAND), "--name", "toy-hand", "--check-against", "toy-hand")[0] == 2


def test_cli_check_against_the_hand_spec(tmp_path: Path) -> None:
    """A changed rule: exit 10, and the callers that differ."""
    root = tmp_path / "tree"
    shutil.copytree(TOY, root)
    c = root / "mm" / "huge_memory.c"
    c.write_text(c.read_text().replace("return in_pf;", "return smaps;"))
    code, out, err = run_cli("import", "--tree", str(root), "--spec", str(HAND), "--check-against", "toy-hand", "--json")
    doc = json.loads(out)
    assert code == 10 and doc["equivalent"] is False
    assert {(c["caller"], c["equivalent"]) for c in doc["comparisons"] if c["output"] == "eligible"} == {
        ("page_fault", False), ("smaps", False), ("khugepaged", True), ("madv_collapse", True)}
