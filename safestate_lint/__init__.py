"""safestate-lint: find and fix unsafe shared state in Python code."""

__version__ = "0.1.0"
