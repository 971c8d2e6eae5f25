"""keysentry: find exposed cloud credentials, contain them, tell the owner.

The public library surface is small on purpose; everything else is private to
its package.  See ``keysentry.detect`` for scanning bytes and files.
"""

from keysentry.errors import KeysentryError

__version__ = "0.1.0"

__all__ = ["KeysentryError", "__version__"]
