"""User profiles behind an LRU cache, with an audited key-value store."""
