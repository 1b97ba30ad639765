"""Request signing: pure crypto shared by the server and the SDK (no I/O)."""
