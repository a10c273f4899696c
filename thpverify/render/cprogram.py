"""A class's reproducer as a C program (kernel selftest style) and as a shell recipe.

The program checks the settings it needs (and skips, exit 4, when they
differ: it writes nothing to /sys), makes the mapping, watches the outcome
and exits 0 when the kernel does what the model says, 1 with a message
otherwise. The shell recipe sets the settings (as root, on a machine of
your choosing), then builds and runs the program.
"""

from __future__ import annotations

from typing import Any

from ..kernel.conform import MappingKind

SYSFS = "/sys/kernel/mm/transparent_hugepage/"

HELPERS = r"""
#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4

static int failures;

/* The bracketed word of a sysfs mode file, compared with want. */
static int setting_is(const char *path, const char *want)
{
	char buf[256], *open_, *close_;
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open_ = strchr(buf, '[');
	close_ = open_ ? strchr(open_, ']') : NULL;
	if (!open_ || !close_)
		return 0;
	*close_ = '\0';
	return strcmp(open_ + 1, want) == 0;
}

/* A field of the smaps entry that starts at start; -1 when absent. */
static __attribute__((unused)) long smaps_field(unsigned long start, const char *name)
{
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");
	size_t len = strlen(name);
	unsigned long lo, hi;
	int inside = 0;
	long value = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			inside = lo == start;
		else if (inside && strncmp(line, name, len) == 0 && line[len] == ':') {
			value = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return value;
}

static __attribute__((unused)) long vmstat(const char *name)
{
	char key[64];
	long value, found = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return 0;
	while (fscanf(f, "%63s %ld", key, &value) == 2)
		if (strcmp(key, name) == 0)
			found = value;
	fclose(f);
	return found;
}

static __attribute__((unused)) void expect(const char *what, int kernel, int model)
{
	if (kernel == model) {
		printf("ok - %s: kernel %d, model %d\n", what, kernel, model);
	} else {
		printf("not ok - %s: kernel %d, model %d\n", what, kernel, model);
		failures++;
	}
}

static void die(const char *what)
{
	printf("not ok - %s: %s\n", what, strerror(errno));
	exit(KSFT_FAIL);
}
"""


def c_program(p: Any) -> str:
    if p.case is None:
        needs = "; ".join(f"{a}: {w}" for a, w in p.needs)
        return (f"/* {p.property_name} on {p.version}, class {p.klass}: not made from userspace.\n"
                + "".join(f" * needs {a}: {w}\n" for a, w in p.needs) + " */\n"
                + "#include <stdio.h>\nint main(void)\n{\n"
                + f"\tprintf(\"# SKIP {_c(needs)}\\n\");\n\treturn 4;\n}}\n")
    c = p.case
    lines = ["// SPDX-License-Identifier: GPL-2.0",
             "/*",
             f" * thpverify reproducer: {p.property_name} on {p.version}, class {p.klass}.",
             " * The model says: " + "; ".join(f"{n} = {v}" + (f" ({r})" if r else "") for n, v, r in p.sides) + ".",
             " * Exits 0 when the kernel agrees, 1 when it does not, 4 when a setting differs.",
             " * Build: cc -Wall -Werror -o reproduce reproduce.c",
             " */",
             "#define _GNU_SOURCE",
             *(f"#include <{h}>" for h in ("errno.h", "fcntl.h", "sched.h", "stdio.h", "stdlib.h", "string.h",
                                           "unistd.h", "sys/ipc.h", "sys/mman.h", "sys/mount.h", "sys/prctl.h",
                                           "sys/shm.h", "sys/stat.h")),
             "",
             "#ifndef MAP_FIXED_NOREPLACE\n#define MAP_FIXED_NOREPLACE 0x100000\n#endif",
             "#ifndef MADV_COLLAPSE\n#define MADV_COLLAPSE 25\n#endif",
             "#ifndef PR_THP_DISABLE_EXCEPT_ADVISED\n#define PR_THP_DISABLE_EXCEPT_ADVISED (1 << 1)\n#endif",
             "#ifndef SHM_REMAP\n#define SHM_REMAP 040000\n#endif",
             HELPERS,
             "int main(void)",
             "{",
             f"\tunsigned long addr = {p.start:#x}UL, len = {c.length:#x}UL;",
             f"\toff_t offset = {c.pgoff * 4096:#x}L, size = {c.file_size:#x}L;",
             "\tint fd = -1;",
             "\tchar *map;",
             "",
             "\t(void)offset;\n\t(void)size;\n\t(void)fd;"]
    for path, want, _ in p.settings:
        lines.append(f"\tif (!setting_is(\"{path}\", \"{want}\")) {{")
        lines.append(f"\t\tprintf(\"# SKIP needs {want} in {path}\\n\");")
        lines.append("\t\treturn KSFT_SKIP;")
        lines.append("\t}")
    if p.prctl == "disable":
        lines.append("\tif (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))\n\t\tdie(\"prctl\");")
    elif p.prctl == "except_advised":
        lines.append("\tif (prctl(PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED, 0, 0)) {")
        lines.append("\t\tprintf(\"# SKIP PR_THP_DISABLE_EXCEPT_ADVISED: %s\\n\", strerror(errno));")
        lines.append("\t\treturn KSFT_SKIP;\n\t}")
    lines.append("\t/* Reserve the place; never replace a mapping that is there. */")
    lines.append("\tif (mmap((void *)addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,"
                 " -1, 0) != (void *)addr)\n\t\tdie(\"reserve\");")
    lines += _make(p)
    for a in c.advice:
        name = {"hg": "MADV_HUGEPAGE", "nh": "MADV_NOHUGEPAGE", "hg-pending": "MADV_HUGEPAGE"}[a]
        lines.append(f"\tif (madvise(map, len, {name}))\n\t\tdie(\"madvise {name}\");")
    if c.touch:
        lines.append("\tmap[0] = 1; /* gives the VMA an anon_vma */")
    lines += _observe(p)
    lines.append("\treturn failures ? KSFT_FAIL : KSFT_PASS;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _c(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")


def _make(p: Any) -> list[str]:
    c = p.case
    prot = "PROT_READ" + ("" if c.kind is MappingKind.ROOT_FILE and not c.write_open else " | PROT_WRITE") \
        + (" | PROT_EXEC" if c.exec_ else "")
    share = "MAP_SHARED" if c.shared else "MAP_PRIVATE"
    out: list[str] = []
    if c.kind is MappingKind.ANON:
        flags = f"{share} | MAP_ANONYMOUS | MAP_FIXED"
        return [f"\tmap = mmap((void *)addr, len, {prot}, {flags}, -1, 0);", "\tif (map != (char *)addr)\n\t\tdie(\"mmap\");"]
    if c.kind is MappingKind.SHARED_ANON:
        return [f"\tmap = mmap((void *)addr, len, {prot}, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);",
                "\tif (map != (char *)addr)\n\t\tdie(\"mmap\");"]
    if c.kind is MappingKind.SYSV:
        return ["\tfd = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);", "\tif (fd < 0)\n\t\tdie(\"shmget\");",
                "\tmap = shmat(fd, (void *)addr, SHM_REMAP);", "\tshmctl(fd, IPC_RMID, NULL);",
                "\tif (map != (char *)addr)\n\t\tdie(\"shmat\");"]
    if c.kind is MappingKind.DEVZERO:
        out.append("\tfd = open(\"/dev/zero\", O_RDWR);")
    elif c.kind is MappingKind.MEMFD:
        out += ["\tfd = memfd_create(\"thpverify\", 0);", "\tif (fd < 0 || ftruncate(fd, size))\n\t\tdie(\"memfd\");"]
    else:
        if c.kind is MappingKind.MOUNT_FILE:
            out += ["\tchar dir[] = \"/tmp/thpverify-XXXXXX\";",
                    "\tif (!mkdtemp(dir))\n\t\tdie(\"mkdtemp\");",
                    "\tif (unshare(CLONE_NEWNS) || mount(\"none\", \"/\", NULL, MS_REC | MS_PRIVATE, NULL))",
                    "\t\tdie(\"private mount namespace\");",
                    f"\tif (mount(\"none\", dir, \"tmpfs\", 0, \"huge={c.huge},size=64m\"))\n\t\tdie(\"mount tmpfs\");",
                    "\tchar path[64];", "\tsnprintf(path, sizeof(path), \"%s/file\", dir);"]
        elif c.kind is MappingKind.SHM_FILE:
            out += ["\tchar path[64];", "\tsnprintf(path, sizeof(path), \"/dev/shm/thpverify-%d\", getpid());"]
        else:
            out += ["\tchar path[64];", "\tsnprintf(path, sizeof(path), \"thpverify-%d\", getpid());"]
        out += ["\tfd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);", "\tif (fd < 0 || ftruncate(fd, size))\n\t\tdie(\"file\");"]
        if c.kind is MappingKind.ROOT_FILE and not c.write_open:
            out += ["\tclose(fd);", "\tfd = open(path, O_RDONLY);", "\tif (fd < 0)\n\t\tdie(\"reopen\");"]
        if c.unlink == "before":
            out.append("\tunlink(path);")
    out += [f"\tmap = mmap((void *)addr, len, {prot}, {share} | MAP_FIXED, fd, offset);",
            "\tif (map != (char *)addr)\n\t\tdie(\"mmap\");"]
    if c.kind not in (MappingKind.DEVZERO, MappingKind.MEMFD) and c.unlink != "before":
        out.append("\tunlink(path);" if c.kind is not MappingKind.MOUNT_FILE else "\tunlink(path); /* the mount dies with the namespace */")
    return out


def _observe(p: Any) -> list[str]:
    out: list[str] = []
    c = p.case
    for o in p.observations:
        want = 1 if o.expected is True else 0
        if o.how == "smaps":
            out.append(f"\texpect(\"smaps THPeligible\", (int)smaps_field(addr, \"THPeligible\"), {want});")
    for o in p.observations:
        want = 1 if o.expected is True else 0
        if o.how == "fault":
            field = "AnonHugePages" if c.kind is MappingKind.ANON or (c.kind is MappingKind.DEVZERO and not c.shared) else (
                "FilePmdMapped" if c.kind is MappingKind.ROOT_FILE else "ShmemPmdMapped")
            counter = "thp_fault_fallback" if field == "AnonHugePages" else "thp_file_fallback"
            touch = "map[at - addr] = 1;" if not (c.kind is MappingKind.ROOT_FILE and not c.write_open) \
                else "(void)*(volatile char *)(map + (at - addr));"
            out += [f"\t{{\n\t\tunsigned long at = {p.fault_at:#x}UL;",
                    f"\t\tlong fallback = vmstat(\"{counter}\");",
                    f"\t\t{touch}",
                    f"\t\tfallback = vmstat(\"{counter}\") - fallback;",
                    f"\t\tint huge = smaps_field(addr, \"{field}\") > 0 || fallback > 0;",
                    f"\t\texpect(\"a fault tries a PMD page ({field}, {counter})\", huge, {want});\n\t}}"]
        elif o.how == "collapse":
            out += ["\t{\n\t\tint r = madvise(map, len, MADV_COLLAPSE);",
                    f"\t\texpect(\"MADV_COLLAPSE gets past the eligibility check\", r == 0 || errno != EINVAL, {want});\n\t}}"]
        elif o.how == "none":
            out.append(f"\tprintf(\"# {o.predicate}: not watched: {_c(o.why)}\\n\");")
    return out


def sh_recipe(p: Any) -> str:
    lines = ["#!/bin/sh", f"# thpverify reproducer: {p.property_name} on {p.version}, class {p.klass}", "set -e"]
    if p.case is None:
        lines += [f"# needs {a}: {w}" for a, w in p.needs]
        lines.append("echo 'not made from userspace' >&2; exit 4")
        return "\n".join(lines) + "\n"
    if p.settings:
        lines.append("# the settings it needs (as root; this changes the machine):")
        for path, want, _ in p.settings:
            lines.append(f"echo {want} > {path}")
    for b in p.boot:
        lines.append(f"# needs {b}")
    lines.append("dir=$(mktemp -d)")
    lines.append("cat > \"$dir/reproduce.c\" <<'EOF'")
    lines.append(c_program(p).rstrip("\n"))
    lines.append("EOF")
    lines.append("cc -Wall -Werror -o \"$dir/reproduce\" \"$dir/reproduce.c\"")
    lines.append("cd \"$dir\" && ./reproduce; status=$?; rm -rf \"$dir\"; exit $status")
    return "\n".join(lines) + "\n"
