"""Named pools of idle database connections, one pool per backend."""
