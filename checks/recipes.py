"""Reading the kit's recipe files: the command after the comment header, and the placeholders the
header declares (`# placeholder ${VAR} = tutorial text`). Shared by the kit's renderer and `checks drift`."""

from __future__ import annotations

import re
from pathlib import Path

_PLACEHOLDER = re.compile(r"^# placeholder \$\{(\w+)\} = (.+)$")


def header(path: Path) -> list[str]:
    out = []
    for line in Path(path).read_text().split("\n"):
        if not line.startswith("#"):
            break
        out.append(line)
    return out


def recipe_command(path: Path) -> str:
    """The command part of a recipe: everything after its leading comment header."""
    lines = Path(path).read_text().split("\n")
    return "\n".join(lines[len(header(path)):]).strip("\n")


def placeholders(path: Path) -> dict[str, str]:
    return {m.group(1): m.group(2) for line in header(path) if (m := _PLACEHOLDER.match(line))}


def as_tutorial(path: Path) -> str:
    """The recipe's command with every ${VAR} placeholder put back to the tutorial's text."""
    text = recipe_command(path)
    for var, original in placeholders(path).items():
        text = text.replace("${" + var + "}", original)
    return text


def compared_with_readme(path: Path) -> bool:
    """Recipes that hold a command of the tutorial's README: not the data preparation (it lives in another
    document) and not the kit's additions (their header says "a kit addition")."""
    path = Path(path)
    return path.stem != "data" and not any("a kit addition" in line for line in header(path))
