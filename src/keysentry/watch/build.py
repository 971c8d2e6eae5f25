"""Watchers from the settings (``[watch]``), with what a command line adds."""

from __future__ import annotations

from keysentry.config.settings import Settings
from keysentry.watch.base import Watcher
from keysentry.watch.git_remote import RepositoryWatch
from keysentry.watch.github_events import GitHubEventsWatch
from keysentry.watch.npm import NpmWatch
from keysentry.watch.pypi import PyPIWatch


def build_watchers(
    settings: Settings,
    repositories: list[str] | None = None,
    github_events: bool = False,
    pypi: bool = False,
    npm: bool = False,
) -> list[Watcher]:
    w = settings.watch
    watchers: list[Watcher] = [
        RepositoryWatch(source, settings.data_dir / "watch", interval=w.repository_interval)
        for source in dict.fromkeys([*w.repositories, *(repositories or [])])
    ]
    if w.github_events or github_events:
        token = w.github_token.get_secret_value() if w.github_token else None
        watchers.append(
            GitHubEventsWatch(w.github_api_url, tuple(w.github_feeds), token, w.github_max_blob_bytes)
        )
    if w.pypi or pypi:
        watchers.append(PyPIWatch(w.pypi_url, w.pypi_interval, w.max_download_bytes))
    if w.npm or npm:
        watchers.append(
            NpmWatch(
                w.npm_replicate_url,
                w.npm_registry_url,
                w.npm_interval,
                w.npm_lookback,
                max_download_bytes=w.max_download_bytes,
            )
        )
    return watchers
