"""Comparative analyses: diff, patch, lint, timeline, requires."""
