"""The kit's own data files, found from where the kit is installed (never from the working directory, never from a
path a run names): goldens in expected/, profiles in recipes/profiles/. A run's manifest may name its profile;
the goldens are then that profile's, chosen here among the kit's."""

from __future__ import annotations

import re
from pathlib import Path

from checks import yamlio
from checks.errors import CheckError

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "expected"
PROFILES = ROOT / "recipes" / "profiles"
DEFAULT_PROFILE = "full"


def profiles() -> list[str]:
    """The kit's profiles, by name."""
    return sorted(p.stem for p in PROFILES.glob("*.yaml"))


def profile_file(name: str) -> Path:
    """recipes/profiles/<name>.yaml of the kit; CheckError naming the known ones for any other name."""
    if not isinstance(name, str) or not re.fullmatch(r"[\w-]+", name) or not (PROFILES / f"{name}.yaml").is_file():
        raise CheckError(f"no profile {name!r} in the kit", where=str(PROFILES), expected=", ".join(profiles()),
                         hint="name one of the kit's profiles (PROFILE=..., or --expected FILE for goldens of your own)")
    return PROFILES / f"{name}.yaml"


def goldens_file(profile: str | None) -> Path:
    """The goldens of a profile (its `expected:`, a file of the kit's expected/), DEFAULT_PROFILE's without one."""
    name = profile or DEFAULT_PROFILE
    doc = yamlio.load(profile_file(name), "profile")
    rel = doc.get("expected") if isinstance(doc, dict) and isinstance(doc.get("expected"), str) else f"expected/{name}.yaml"
    path = (ROOT / rel).resolve()
    if path.parent != EXPECTED.resolve() or not path.is_file():
        raise CheckError(f"profile {name} names goldens outside the kit's expected/", where=str(profile_file(name)),
                         found=rel, expected=f"a file of {EXPECTED}")
    return path
