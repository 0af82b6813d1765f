"""The tokenless playground: a local Bot API server, the real bot against it, a web chat page."""
