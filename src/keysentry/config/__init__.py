"""Configuration plumbing that every settings model shares: models that refuse unknown keys, and errors
that name the key, where it came from and the closest valid one."""

from keysentry.config.explain import closest_key, explain, unknown_environment
from keysentry.config.strict import StrictModel

__all__ = ["StrictModel", "closest_key", "explain", "unknown_environment"]
