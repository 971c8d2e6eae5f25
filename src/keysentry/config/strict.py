"""The base of every settings model: an unknown key is an error, never silently ignored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A settings table (``[notify]``, ``[notify.email]``, ``[[notify.webhooks]]``, ``[watch]`` …): a key
    it does not define is refused, so a typo cannot switch a channel or a watcher off unnoticed."""

    model_config = ConfigDict(extra="forbid")
