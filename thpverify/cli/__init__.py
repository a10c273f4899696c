"""The command line: one module per command group, shared options and exit
codes in `common`, the parser and dispatch in `main`."""

from .main import main, main_entry

__all__ = ["main", "main_entry"]
