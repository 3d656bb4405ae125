"""Loads exporter plugins on demand for a threaded report server."""
