"""Loaded plugins, by name."""

REGISTRY = {}
