"""What a team tells ``keysentry scan`` about its own repository: ``[scan]`` in ``keysentry.toml``.

```toml
[scan]
exclude = ["tests/fixtures/", "*.min.js"]   # globs, as --exclude (relative to the scanned folder)
disable_rules = ["generic-password"]        # rule ids, as keysentry scan lists them
min_confidence = "low"                      # as --min-confidence
```

``keysentry scan`` finds the file itself: the ``keysentry.toml`` nearest to each scanned folder (or the
folder of a scanned file), looking upwards from it; the command line wins where both say something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from keysentry.config import StrictModel, explain
from keysentry.errors import ConfigError

CONFIG_NAME = "keysentry.toml"


class ScanSettings(StrictModel):
    exclude: list[str] = Field(
        default_factory=list, description="Leave out findings in these paths, as --exclude (counted)."
    )
    disable_rules: list[str] = Field(
        default_factory=list, description="Rule ids whose findings are left out (counted as excluded)."
    )
    min_confidence: Literal["high", "medium", "low"] | None = Field(
        default=None, description="As --min-confidence, which wins when given."
    )


def nearest_config(target: Path) -> Path | None:
    """The ``keysentry.toml`` in ``target``'s folder (a scanned file's own folder) or the nearest above."""
    folder = target if target.is_dir() else target.parent
    for candidate in (folder.resolve(), *folder.resolve().parents):
        path = candidate / CONFIG_NAME
        if path.is_file():
            return path
    return None


def scan_settings_of(path: Path, data: dict[str, object]) -> ScanSettings:
    """The ``[scan]`` table of a parsed configuration file, validated (unknown keys refused)."""
    try:
        return ScanSettings.model_validate(data.get("scan") or {})
    except ValidationError as exc:
        message = explain(exc, ScanSettings, {key: str(path) for key in ScanSettings.model_fields})
        raise ConfigError(f"invalid [scan] in {path}:\n  " + "\n  ".join(message.splitlines())) from None
