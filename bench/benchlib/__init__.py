"""Helpers for ``bench/run``: corpora, tools, measurement, scoring and the report.

Nothing in this package prints, logs or stores a secret: planted secrets are held in
memory (see ``corpus.Truth``) and only counts leave it.
"""

MB = 1_000_000  # throughput and sizes are in decimal megabytes
