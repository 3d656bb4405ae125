"""Per-key running totals, updated from request threads."""
