"""`thpverify smaps`: parsing, facts -> atoms, explanations; on recorded files from this machine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import golden, run_cli
from hypothesis import given
from hypothesis import strategies as st

from thpverify import model as m
from thpverify.kernel.geometry import ORDERS, PAGE, within_size
from thpverify.kernel.observe import block_fits, observe, pgoff_aligned
from thpverify.kernel.proc import SmapsError, Vma, parse_smaps
from thpverify.kernel.settings import Process, Settings, read_sysfs
from thpverify.kernel.smaps import Explainer, pick_version

FIXTURES = Path(__file__).parent / "fixtures" / "smaps"
BASH = FIXTURES / "bash.smaps"
BASH_SETTINGS = FIXTURES / "bash.json"
MiB = 1 << 20


def settings() -> Settings:
    return Settings.from_json(json.loads(BASH_SETTINGS.read_text())["settings"])


def vma(start: int, length: int, path: str = "", flags: str = "rd wr mr mw me ac", perms: str = "rw-p",
        pgoff: int = 0, inode: int = 0, dev: str = "00:00") -> Vma:
    return Vma(1, start, start + length, perms, pgoff, dev, inode, path, (), tuple(flags.split()), None)


# ------------------------------------------------------------------ parsing


def test_parses_the_recorded_shell() -> None:
    vmas = parse_smaps(BASH.read_text(), str(BASH))
    assert len(vmas) == 44
    assert all(v.thp_eligible in (0, 1) for v in vmas)
    assert all("rd" in v.vmflags or "mr" in v.vmflags or v.path == "[vsyscall]" for v in vmas)
    assert [v.path for v in vmas if v.path.startswith("[")] == ["[heap]", "[vvar]", "[vvar_vclock]", "[vdso]",
                                                                 "[stack]", "[vsyscall]"]


@pytest.mark.parametrize(("text", "where"), [
    ("nonsense\n", "x.smaps:1:1: error: 'nonsense'"),
    ("00400000-00300000 r--p 00000000 00:00 0\n", "x.smaps:1:1: error: the VMA ends"),
    ("00400000-00500000 r--p 00000000 00:00 0\nTHPeligible:    2\n", "x.smaps:2:17: error: THPeligible must be 0 or 1"),
    ("Rss: 4 kB\n", "x.smaps:1:1: error: 'Rss' before the first VMA header"),
    ("", "x.smaps:1:1: error: no VMA"),
])
def test_bad_smaps_is_located(text: str, where: str) -> None:
    with pytest.raises(SmapsError) as exc:
        parse_smaps(text, "x.smaps")
    assert str(exc.value).startswith(where.split("'")[0])


def test_bad_smaps_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.smaps"
    bad.write_text("00400000-00500000 r--p 00000000 00:00 0\nTHPeligible:    7\n")
    code, out, err = run_cli("smaps", "--file", str(bad), "--settings", str(BASH_SETTINGS))
    assert code == 2 and out == ""
    assert err.startswith(f"{bad}:2:17: error: THPeligible must be 0 or 1")


# ------------------------------------------------------------------ geometry, by brute force


@given(st.integers(0, 2000), st.integers(1, 1200), st.integers(0, 3000))
def test_block_fits_is_an_aligned_block_inside(start: int, pages: int, pgoff: int) -> None:
    v = vma(start * PAGE, pages * PAGE, pgoff=pgoff)
    fits, aligned = block_fits(v), pgoff_aligned(v)
    for k in ORDERS:
        n = 1 << k
        inside = any(a % n == 0 and start <= a and a + n <= start + pages for a in range(start, start + pages))
        # A VMA that ends below the block: vm_end - size wraps, and so does haddr + size (geometry.py).
        assert bool(fits >> k & 1) == (inside or start + pages < n)
        assert bool(aligned >> k & 1) == ((start - pgoff) % n == 0)


@given(st.integers(0, 3000), st.integers(0, 5000 * PAGE))
def test_within_size_is_the_aligned_block_below_eof(index: int, i_size: int) -> None:
    mask = within_size(index, i_size)
    pages = -(-i_size // PAGE)
    for k in ORDERS:
        n = 1 << k
        assert bool(mask >> k & 1) == ((index // n + 1) * n <= pages)


# ------------------------------------------------------------------ versions, settings


def test_pick_version(lib: m.Library) -> None:
    assert pick_version(lib, "6.18.44-fc-v657") == "v6.18"
    assert pick_version(lib, "7.4.2") == "v7.1"
    assert pick_version(lib, "6.5.3") == "v6.3"  # no spec of its own: the nearest below
    assert pick_version(lib, "6.6.9") == "v6.6"  # never the fix series
    assert pick_version(lib, "5.10.0") is None
    assert pick_version(lib, "weird") is None


def test_auto_version_for_kernels_outside_the_library(lib: m.Library) -> None:
    from thpverify.cli.kernel import UsageError, choose_version

    newer = choose_version(lib, "auto", "7.4.2")
    assert newer.version == "v7.1" and newer.first.startswith("kernel 7.4.2 is newer than the newest modelled release v7.1")
    assert choose_version(lib, "v6.18", "7.4.2").first == ""  # --version given: no complaint
    inferred = choose_version(lib, "auto", "6.16.3")
    assert inferred.version == "v6.16" and any("v6.16 is inferred" in note for note in inferred.notes)
    with pytest.raises(UsageError, match="older than the oldest modelled release v5.19"):
        choose_version(lib, "auto", "5.4.0")


def test_read_sysfs_from_a_fake_tree(tmp_path: Path) -> None:
    (tmp_path / "enabled").write_text("always [madvise] never\n")
    (tmp_path / "shmem_enabled").write_text("always within_size [advise] never deny force\n")
    for size, anon, shmem in (("2048kB", "always [inherit] madvise never", "always inherit within_size [advise] never"),
                              ("64kB", "[always] inherit madvise never", "always inherit [within_size] advise never"),
                              ("8kB", None, "[always] inherit within_size advise never")):
        d = tmp_path / f"hugepages-{size}"
        d.mkdir()
        if anon:
            (d / "enabled").write_text(anon + "\n")
        (d / "shmem_enabled").write_text(shmem + "\n")
    ok, enabled, shmem_enabled, anon, shmem = read_sysfs(tmp_path)
    assert (ok, enabled, shmem_enabled) == (True, "madvise", "advise")
    assert anon == {"always": 1 << 4, "madvise": 0, "inherit": 1 << 9}
    assert shmem == {"always": 1 << 1, "madvise": 1 << 9, "inherit": 0, "within_size": 1 << 4}
    assert read_sysfs(tmp_path / "missing")[0] is False


# ------------------------------------------------------------------ facts -> atoms


@pytest.mark.parametrize(("v", "kind", "facts"), [
    (vma(0x7f0000000000, 2 * MiB), "anonymous", {"vma_is_anonymous": True, "vm_file": False}),
    (vma(0x7f0000000000, 2 * MiB, "/dev/zero (deleted)", perms="rw-s", inode=5, dev="00:01"), "shared anonymous (shmem)",
     {"vma_is_anon_shmem": True, "shmem_file": True, "vma_is_anonymous": False}),
    (vma(0x7f0000000000, 2 * MiB, "/memfd:x (deleted)", perms="rw-s", inode=5, dev="00:01"), "memfd (shmem)",
     {"vma_is_anon_shmem": True, "tmpfs_huge": "never"}),
    (vma(0x7f0000000000, 2 * MiB, "/SYSV00000000 (deleted)", perms="rw-s", inode=5, dev="00:01"), "SysV shm (shmem)",
     {"vma_is_anon_shmem": False, "shmem_file": True}),
    (vma(0x7f0000000000, 2 * MiB, "/dev/zero", inode=5, dev="00:05"), "private /dev/zero (anonymous)",
     {"vma_is_anonymous": True, "vm_file": True, "S_ISREG": False}),
    (vma(0xffffffffff600000, PAGE, "[vsyscall]"), "gate VMA (vsyscall)", {"vm_mm": False}),
    (vma(0x7ffd00000000, 132 * 1024, "[stack]", "rd wr mr mw me gd ac"), "anonymous [stack]",
     {"vma_is_temporary_stack": False}),
    (vma(0x7ffd00000000, 132 * 1024, "", "rd wr mr mw me gd sr rr ac"), "anonymous",
     {"vma_is_temporary_stack": True}),
    (vma(0x400000, 2 * MiB, "/dev/shm/f (deleted)", perms="rw-s", inode=9, dev="00:1a"), "tmpfs file (shmem, huge=never)",
     {"shmem_file": True, "tmpfs_huge": "never"}),
    (vma(0x400000, 2 * MiB, "/usr/bin/bash", "rd mr mw me hg", "r--p", inode=9, dev="fd:00"), "file on ext4",
     {"VM_HUGEPAGE": True, "vma_VM_HUGEPAGE": True, "shmem_file": False}),
])
def test_observe(v: Vma, kind: str, facts: dict[str, object]) -> None:
    obs = observe(v, settings(), Process(False, None))
    known = dict(obs.known)
    assert obs.kind == kind
    for atom, value in facts.items():
        assert known[atom] == value, atom
    assert "MMF_DISABLE_THP_EXCEPT_ADVISED" in dict(obs.unknown)
    if v.path == "/dev/shm/f (deleted)":
        assert "vma_is_anon_shmem" in dict(obs.unknown)  # unlinked before or after mmap


def test_no_pgoff_without_a_file() -> None:
    unknown = dict(observe(vma(0x7f0000001000, 2 * MiB), settings(), Process(False, False)).unknown)
    assert "pgoff_aligned" in unknown


# ------------------------------------------------------------------ explanations


@pytest.fixture(scope="module")
def explainer(lib: m.Library) -> Explainer:
    return Explainer(lib, "v6.18")


@pytest.mark.parametrize(("v", "proc", "model", "advice"), [
    (vma(0x7f0000000000, 3 * MiB // 2, flags="rd wr mr mw me ac hg"), Process(False, False), False,
     "the 2 MiB block does not fit: 1.5 MiB mapping"),
    (vma(0x7f0000000000, 4 * MiB), Process(False, False), False, "needs MADV_HUGEPAGE: enabled=madvise"),
    (vma(0x7f0000000000, 4 * MiB, flags="rd wr mr mw me ac hg"), Process(False, False), True, "eligible (MADV_HUGEPAGE)"),
    (vma(0x7f0000000000, 4 * MiB, flags="rd wr mr mw me ac hg"), Process(True, False), False,
     "off for the process: prctl(PR_SET_THP_DISABLE)"),
    # enabled=madvise decides before VM_NOHUGEPAGE is read, and MADV_HUGEPAGE clears it
    (vma(0x7f0000000000, 4 * MiB, flags="rd wr mr mw me ac nh"), Process(False, None), False,
     "needs MADV_HUGEPAGE: enabled=madvise"),
    (vma(0x7f0000000000, 4 * MiB, "/memfd:x (deleted)", "rd wr sh mr mw me ms nh", "rw-s", inode=5, dev="00:01"),
     Process(False, False), False, "MADV_NOHUGEPAGE or MAP_STACK set it off: VmFlags nh"),
    (vma(0x7f0000000000, 4 * MiB, "/memfd:x (deleted)", "rd wr sh mr mw me ms hg", "rw-s", inode=5, dev="00:01"),
     Process(False, False), False, "shmem THP off: shmem_enabled=never, hugepages-*/shmem_enabled"),
    # MADV_HUGEPAGE is advised only when the model says it would be enough
    (vma(0x7f0000000000, 1 * MiB), Process(False, False), False,
     "MADV_HUGEPAGE alone is not enough: the 2 MiB block does not fit: 1 MiB mapping"),
    (vma(0x7f0000000000, 4 * MiB, "/srv/data", "rd mr mw me", "r--p", inode=9, dev="fd:00"), Process(False, False), False,
     "MADV_HUGEPAGE alone is not enough unless vma_is_dax or huge_fault: no ->huge_fault and CONFIG_READ_ONLY_THP_FOR_FS=n"),
])
def test_explanations(explainer: Explainer, v: Vma, proc: Process, model: bool, advice: str) -> None:
    r = explainer.report(v, observe(v, settings(), proc))
    assert (r.model, r.advice) == (model, advice)


def test_unknown_file_facts_make_it_depend(explainer: Explainer) -> None:
    v = dataclasses.replace(vma(0x7f0000000000, 4 * MiB, "/srv/data", "rd mr mw me hg", "r--p", inode=9, dev="fd:00"),
                            thp_eligible=0)
    r = explainer.report(v, observe(v, settings(), Process(False, False)))
    assert r.model is None and r.status == "depends"
    assert set(r.depends_on) >= {"huge_fault"}
    assert r.advice.startswith("depends on ")


# ------------------------------------------------------------------ the command


def test_recorded_shell_golden() -> None:
    code, out, err = run_cli("smaps", "--file", str(BASH.relative_to(Path.cwd())), "--settings",
                             str(BASH_SETTINGS.relative_to(Path.cwd())))
    assert (code, err) == (0, "")
    assert all(len(line) <= 72 for line in out.splitlines())
    golden("smaps_bash.txt", out)


def test_recorded_shell_json() -> None:
    code, out, _ = run_cli("smaps", "--json", "--file", str(BASH), "--settings", str(BASH_SETTINGS))
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "thpverify/2" and doc["version"] == "v6.18"
    assert doc["summary"] == {"agree": 44, "depends": 0, "DISAGREE": 0, "no-kernel-answer": 0}
    assert {v["status"] for v in doc["vmas"]} == {"agree"}


def test_a_disagreement_is_loud(tmp_path: Path) -> None:
    text = "".join(BASH.read_text().partition("VmFlags")[0:2]) + ": rd mr mw me\n"  # the first VMA only
    zero = "THPeligible:           0"
    i = text.index(zero)
    lied = tmp_path / "lied.smaps"
    lied.write_text(text[:i] + zero[:-1] + "1" + text[i + len(zero):])
    code, out, _ = run_cli("smaps", "--file", str(lied), "--settings", str(BASH_SETTINGS))
    assert code == 10
    assert "!! DISAGREES WITH THE KERNEL: THPeligible 1, model says false" in out
    assert "1 DISAGREE" in out.replace("\n", " ")


def test_version_is_checked() -> None:
    code, _, err = run_cli("smaps", "--file", str(BASH), "--settings", str(BASH_SETTINGS), "--version", "v9.9")
    assert code == 2 and "no version 'v9.9'" in err


def running_kernel_spec(lib: m.Library) -> str | None:
    """The spec of the running kernel's own release, if the library has one."""
    import os

    release = os.uname().release
    chosen = pick_version(lib, release)
    return chosen if chosen and chosen[1:] == ".".join(release.split(".")[:2]) else None


def test_live_process(lib: m.Library) -> None:
    smaps = Path("/proc/self/smaps")
    if not smaps.exists() or "THPeligible" not in smaps.read_text():
        pytest.skip("no /proc/self/smaps with THPeligible on this machine")
    if running_kernel_spec(lib) is None:
        pytest.skip("the running kernel has no spec of its own")
    code, out, _ = run_cli("smaps", "--pid", "self")
    assert code == 0, out
