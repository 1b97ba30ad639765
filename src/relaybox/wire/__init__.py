"""The route API's wire format: pure functions shared by the server and the SDK (no I/O)."""
