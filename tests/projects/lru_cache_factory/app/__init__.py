"""A product catalogue served from a threaded WSGI server."""
