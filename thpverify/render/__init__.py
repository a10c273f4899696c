"""Results -> text (mail-friendly) and JSON. Nothing else in the package prints."""
