"""The running kernel, read only (nothing is written to /sys): parsing /proc
(proc), the settings in sysfs, Kconfig and prctl (settings), facts mapped to
atoms (observe), the model asked about what was seen (smaps), advice keyed on
rule labels (advice), geometry as the kernel computes it, the conformance
probe (conform, sweep) and reproducers (reproduce)."""
