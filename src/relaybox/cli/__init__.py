"""The ``relaybox`` command line."""
