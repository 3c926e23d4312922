"""What a recorded command says: its flags, and whether a value a tool echoed is the value the command gave. Pure
text functions, shared by the steps' rules (checks/steps/), lineage and diff."""

from __future__ import annotations

import math
import re
import shlex

_CONT = re.compile(r"\\\n\s*")


def _option(words: list[str], i: int) -> tuple[str, object, int]:
    """(`--flag`, its value, the index after it) for the option at words[i]: a list for several values, True for a
    bare flag, the text after `=` for `--flag=value`."""
    key, _, inline = words[i].partition("=")
    vals = [inline] if inline else []
    j = i + 1
    while not inline and j < len(words) and not words[j].startswith("-") and words[j] not in (";", "&&"):
        vals.append(words[j])
        j += 1
    return key, True if not vals else vals[0] if len(vals) == 1 else vals, j


def command_flags(command: str) -> dict[str, object]:
    """`--flag value` (a list for several values, True for a bare flag) and `-o key=value` of a command; for a
    `python|torchrun ... script.py` command, only the script's own flags (not the launcher's)."""
    try:
        words = shlex.split(_CONT.sub(" ", command))
    except ValueError:
        return {}
    out: dict[str, object] = {}
    script = next((k for k, w in enumerate(words) if w.endswith(".py")), None)
    i = script + 1 if script is not None else 0
    while i < len(words):
        w = words[i]
        if w == "-o" and i + 1 < len(words) and "=" in words[i + 1]:
            k, v = words[i + 1].split("=", 1)
            out[f"-o {k}"] = v
            i += 2
        elif w.startswith("--") and len(w) > 2:
            key, value, i = _option(words, i)
            out[key] = value
        else:
            i += 1
    return out


def script_flags(command: str) -> dict[str, object]:
    """The script's `--flags` by bare name, leaving out values the shell expands at run time (`${DATA_BLEND}`),
    which cannot be compared with what the tool echoed."""
    return {k[2:]: v for k, v in command_flags(command).items() if k.startswith("--") and "${" not in str(v)}


def count(flags: dict[str, object], flag: str, default: int | None = None) -> int | None:
    """A flag's value when it is a plain count (digits only), else `default`."""
    v = str(flags.get(flag, ""))
    return int(v) if v.isdigit() else default


def same_value(echoed: object, given: object) -> bool:
    """A value as the tool echoed it against the command's text: numbers by value, lists item by item."""
    if isinstance(given, list) or isinstance(echoed, list):
        g = given if isinstance(given, list) else [given]
        e = echoed if isinstance(echoed, list) else [echoed]
        return len(g) == len(e) and all(same_value(a, b) for a, b in zip(e, g))
    if given is True:
        return echoed is True
    if isinstance(echoed, bool):
        return str(given).lower() == str(echoed).lower()
    if isinstance(echoed, (int, float)):
        try:
            return math.isclose(float(given), float(echoed), rel_tol=1e-9, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return str(echoed) == str(given)


def mismatches(echoed: dict[str, object], flags: dict[str, object]) -> list[str]:
    """Each flag the tool echoed with another value than the command gave, said as a reader would."""
    return [f"--{k} {v!r} but the log says {echoed[k]!r}" for k, v in flags.items()
            if k in echoed and not same_value(echoed[k], v)]
