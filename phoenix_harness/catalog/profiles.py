"""Load profiles: ``load-profiles/NAME.yaml``."""

from __future__ import annotations

from pathlib import Path

from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.spec import LoadProfile, load_profile_file


class ProfileCatalog:
    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.yaml"))

    def path(self, name: str) -> Path:
        return self.root / f"{name}.yaml"

    def get(self, name: str) -> LoadProfile:
        path = self.path(name)
        if not path.is_file():
            raise PhoenixError("E202", f"unknown load profile '{name}'{did_you_mean(name, self.names())}",
                               where=str(self.root),
                               fix=f"use one of: {', '.join(self.names()) or '(none found)'}")
        profile = load_profile_file(path)
        if profile.name != name:
            raise PhoenixError("E203", f"profile file is named '{name}' but says name: {profile.name}",
                               where=str(path), fix=f"set name: {name}")
        return profile
