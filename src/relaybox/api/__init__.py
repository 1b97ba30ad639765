"""The HTTP edge: thin handlers, no SQL, no crypto."""
