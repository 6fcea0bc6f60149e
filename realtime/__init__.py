"""Cross-process plumbing: the event bus and the shared scan state (in-process or Redis)."""
