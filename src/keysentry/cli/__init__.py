"""The ``keysentry`` command line."""
