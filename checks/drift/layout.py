"""Where files are in a checkout: a script that is not where a command calls it (and where it may have gone), the
same script in a baseline checkout, and the defaults that changed since that baseline."""

from __future__ import annotations

import difflib
from pathlib import Path

from checks.drift.argspec import argparse_spec
from checks.findings import CHANGED, MISSING, Finding

REPOS = {"modelopt": "Model-Optimizer", "bridge": "Megatron-Bridge"}
UPSTREAM = {"/opt/Model-Optimizer/": "modelopt", "${MODELOPT_DIR}/": "modelopt", "/opt/Megatron-Bridge/": "bridge"}
# Shell entry points whose options an upstream Python file declares. Megatron-Bridge >= 0.6.0: convert.sh execs
# setup_conversion.py (v0.6.0 convert.sh:56), which parses with arguments.build_parser(include_execution=True)
# (setup_conversion.py:27, :229). tests/test_frontdoor.py checks this against the v0.6.0 tree.
ENTRY_POINTS = {("bridge", "scripts/conversion/convert.sh"): "scripts/conversion/arguments.py"}
_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv"}


def symlinked(root: Path, rel: str) -> str:
    """' (through the symlink examples/llm_ptq -> hf_ptq)' when a component of the path is a symlink."""
    parts = Path(rel).parts
    for k in range(1, len(parts) + 1):
        p = root.joinpath(*parts[:k])
        if p.is_symlink():
            return f" (through the symlink {Path(*parts[:k]).as_posix()} -> {p.readlink().as_posix()})"
    return ""


def files(root: Path):
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(d.iterdir())
        except OSError:
            continue
        for e in entries:
            if e.is_dir() and not e.is_symlink():
                if e.name not in _SKIP_DIRS:
                    stack.append(e)
            else:
                yield e


def baseline_file(base_root: Path, rel: str) -> Path | None:
    """The same script in the baseline checkout: at the same path, else the only file of that name."""
    if (base_root / rel).is_file():
        return base_root / rel
    same = [f for f in files(base_root) if f.name == Path(rel).name and f.is_file()]
    return same[0] if len(same) == 1 else None


def baseline_parser(base_root: Path, rel: str, sub: str) -> tuple[Path | None, dict | None]:
    """(the baseline's file, its parser for sub-command `sub`), Nones when there is none or it cannot be read."""
    bfile = baseline_file(base_root, rel)
    if bfile is None:
        return None, None
    try:
        return bfile, argparse_spec(bfile.read_text(encoding="utf-8", errors="replace"), str(bfile))["parsers"].get(sub)
    except SyntaxError:
        return bfile, None


def _where_it_went(p: Path, root: Path, all_files: list[Path]) -> tuple[list[str], list[str]]:
    """(files of the same name, hints) for a script that is not at `p` in `root`."""
    same = [f.relative_to(root).as_posix() for f in all_files if f.name == p.name and f.is_file()]
    hints = [f"a file of that name is at {', '.join(same[:3])}"] if same else []
    parent = root / p.parent
    if parent.is_symlink() and not parent.exists():
        hints.append(f"{p.parent.as_posix()} is a broken symlink (-> {parent.readlink().as_posix()})")
        return same, hints
    dirs = sorted({f.parent.relative_to(root).as_posix() for f in all_files
                   if f.parent.name == p.parent.name and f.parent != root / p.parent})
    elsewhere = [f"{d}/ ({', '.join(sorted(f.name for f in (root / d).iterdir() if f.is_file())[:4])})" for d in dirs[:3]]
    if parent.is_dir():
        if elsewhere:  # where a moved script most likely went (Megatron-Bridge: examples/conversion -> scripts/conversion)
            hints.append(f"a directory of the same name is elsewhere: {', '.join(elsewhere)}")
        beside = [f.name for f in parent.iterdir() if f.suffix == ".py"]
        close = difflib.get_close_matches(p.name, beside, n=3, cutoff=0.5)
        if close:
            hints.append(f"beside it: {', '.join(close)}")
    else:
        hints.append(f"{p.parent.as_posix()}/ does not exist")
        if elsewhere:
            hints.append(f"a directory of the same name exists: {', '.join(elsewhere)}")
    return same, hints


def missing_script(step: str, rel: str, root: Path, repo: str) -> Finding:
    """MISSING, naming the repository and file, with where the script may have gone: files of the same name,
    close names beside it, or a directory of the same name elsewhere (Megatron-Bridge moved examples/conversion
    to scripts/conversion)."""
    same, hints = _where_it_went(Path(rel), root, list(files(root)))
    name = REPOS[repo]
    return Finding(step, rel, MISSING, expected=f"{name}:{rel}", measured=same[0] if same else None, where=f"{name}:{rel}",
                   note=f"the recipe runs {name}'s {rel}; it is not in the {name} checkout at {root} "
                        f"({'; '.join(hints) or 'no file of that name anywhere in it'}). "
                        "What to do: point the recipe at the script's new place (an erratum with a version range in "
                        "recipes/errata.yaml) after checking its flags, or pin the ref that still has it.")


def _show(arg: dict) -> str:
    return repr(arg["default"]) if arg["literal"] else str(arg["default"])


def _same_default(a: dict, b: dict) -> bool:
    if a["literal"] and b["literal"]:
        return a["default"] == b["default"] and type(a["default"]) is type(b["default"])
    return not a["literal"] and not b["literal"] and a["default"] == b["default"]


def changed_defaults(step: str, rel: str, root: Path, base_root: Path, parser: dict, sub: str, passed: set) -> list[Finding]:
    """CHANGED for every option the recipe does not pass whose default differs from the baseline's."""
    bfile, bparser = baseline_parser(base_root, rel, sub)
    if not bparser:
        return []
    brel = bfile.relative_to(base_root).as_posix()
    out = []
    for a in {id(a): a for a in parser["options"].values()}.values():
        if a["dest"] in passed or a["action"] in ("help", "version"):
            continue
        b = next((bparser["options"][o] for o in a["flags"] if o in bparser["options"]), None)
        if b is not None and not _same_default(a, b):
            out.append(_changed(step, rel, root, a, f"{brel}:{b['default_line']} in {base_root}", b))
    return out


def _changed(step: str, rel: str, root: Path, a: dict, was_at: str, b: dict) -> Finding:
    flag = next((o for o in a["flags"] if o.startswith("--")), a["flags"][0])
    shown = lambda x: "None" if x is None else x  # noqa: E731 - a renderer shows None as "—", i.e. nothing
    later = (f" (None is often resolved later in the script: see how {a['dest']} is used)"
             if a["literal"] and a["default"] is None else "")
    return Finding(step, flag, CHANGED, expected=shown(b["default"]), measured=shown(a["default"]),
                   where=f"{rel}:{a['default_line']}",
                   note=f"the default of {flag} was {_show(b)} in the baseline ({was_at}) and is {_show(a)} here "
                        f"({rel}:{a['default_line']} in {root}); the recipe does not pass {flag}, so it now runs with "
                        f"{_show(a)}{later}. What to do: if the old behaviour matters, pass "
                        f"{flag} {b['default'] if b['literal'] else '<value>'} in the recipe (an erratum with a version range); "
                        "otherwise expect the change in the results (checks diff) and re-bless the goldens.")


def shell_entry(words: list[str]) -> dict | None:
    """`[bash] /opt/Megatron-Bridge/scripts/conversion/convert.sh export ...`: an upstream shell script in ENTRY_POINTS."""
    i = 1 if words[:1] in (["bash"], ["sh"]) else 0
    w = words[i] if len(words) > i else ""
    prefix = next((p for p in UPSTREAM if w.startswith(p)), None)
    if prefix is None or not w.endswith(".sh"):
        return None
    repo, rel = UPSTREAM[prefix], w[len(prefix):].lstrip("/")
    return {"repo": repo, "path": rel, "script": w, "args": words[i + 1:], "parser": ENTRY_POINTS.get((repo, rel))}
