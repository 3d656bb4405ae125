"""Runs jobs and warns about the ones that overrun."""
