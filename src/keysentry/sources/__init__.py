"""Sources yield blobs: bytes plus where they came from.

Folders and single files (:mod:`keysentry.sources.files`), standard input, and
git history (:mod:`keysentry.sources.git`).  Nothing here knows about
credentials; detection happens downstream.
"""

from keysentry.content import Blob, Provenance, Skipped

__all__ = ["Blob", "Provenance", "Skipped"]
