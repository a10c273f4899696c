"""The language: the grammar (its source of truth), syntax nodes with spans,
the parser, import and version resolution, the type checker, diagnostics,
and loading a library. Text goes in; a typed `model.Library` comes out."""
