"""The running kernel: /proc and /sys observation, smaps explanations and
advice, and the conformance probe. Read only; nothing is written to /sys."""
