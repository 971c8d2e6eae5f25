"""What to watch: data in ``keysentry.toml`` (``[watch]``) or ``KEYSENTRY_WATCH`` as JSON.  ``keysentry
serve`` runs every watcher enabled here; ``keysentry watch`` runs them too, with what its options add.

```toml
[watch]
repositories = ["https://github.com/acme/app.git"]   # polled through a bare mirror
github_events = true                  # GitHub's public events: the commits of every push
github_feeds = ["/orgs/acme/events"]  # default ["/events"], the whole public timeline
github_token = "github_pat_…"         # 5,000 requests an hour instead of 60
pypi = true                           # new PyPI releases: sdists and wheels
npm = true                            # new npm releases: tarballs
```
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, field_validator

from keysentry.config import StrictModel
from keysentry.config.durations import parse_duration

MiB = 1024 * 1024


class WatchSettings(StrictModel):
    repositories: list[str] = Field(default_factory=list, description="Git clone URLs or paths to poll.")
    repository_interval: float = Field(default=60.0, gt=0, description="Seconds between polls of each.")

    github_events: bool = False
    github_api_url: str = "https://api.github.com"
    github_feeds: list[str] = Field(
        default_factory=lambda: ["/events"],
        description="Events feeds to poll: /events, /orgs/<org>/events, /users/<user>/events.",
    )
    github_token: SecretStr | None = None
    github_max_blob_bytes: int = Field(default=8 * MiB, gt=0)

    pypi: bool = False
    pypi_url: str = "https://pypi.org"
    pypi_interval: float = Field(default=60.0, gt=0)

    npm: bool = False
    npm_replicate_url: str = "https://replicate.npmjs.com"
    npm_registry_url: str = "https://registry.npmjs.org"
    npm_interval: float = Field(default=60.0, gt=0)
    npm_lookback: timedelta = Field(
        default=timedelta(hours=6), description="Versions published longer ago than this are not scanned."
    )

    max_download_bytes: int = Field(default=64 * MiB, gt=0, description="Largest release file downloaded.")

    @field_validator("npm_lookback", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    def any_enabled(self) -> bool:
        return bool(self.repositories or self.github_events or self.pypi or self.npm)
