"""Fetches pages in parallel and counts what came back."""
