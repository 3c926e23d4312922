"""Import compatibility: every name an upstream script imports from a library the image pins (Megatron-Bridge,
megatron-core, ModelOpt, transformers) must exist in that exact version, read from the package itself (a wheel
from the registry, or a checkout), never installed and never imported.

A module's names are read line by line (`module_names`): top-level `class`/`def` headers, assignments and imports,
also inside module-level `if`/`try` blocks (conditional imports bind too), never inside a function or class body;
`from x import *` follows x. A module-level `__getattr__` makes every name resolvable (dynamic): such a module is
not judged. The same reader works on whole files and on the trimmed extracts the tests carry."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from checks.findings import MISSING, SAME, SKIP, Finding

# Which distribution provides a top-level import, and the pin (versions.env key) that names its version.
LIBRARIES = {"megatron.bridge": ("megatron-bridge", "MEGATRON_BRIDGE_VERSION"),
             "megatron.core": ("megatron-core", "MEGATRON_CORE_VERSION"),
             "transformers": ("transformers", "TRANSFORMERS_VERSION"),
             "modelopt": ("nvidia-modelopt", None)}  # ModelOpt: the checkout at MODELOPT_REF itself

_DEF = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)")
_ASSIGN = re.compile(r"^(\s*)([A-Za-z_]\w*)\s*(?::[^=]+)?=(?!=)")
_FROM = re.compile(r"^(\s*)from\s+(\.*[\w.]*)\s+import\s+(.*)$")
_IMPORT = re.compile(r"^(\s*)import\s+(.*)$")
_GUARD = re.compile(r"^\s*(?:try\s*:|with\s.*\bsuppress\()")


@dataclass
class Names:
    names: set
    stars: list  # modules star-imported (as written: relative modules keep their dots)
    dynamic: bool  # a module-level __getattr__


def _joined(lines: list[str]) -> list[tuple[int, str]]:
    """(first line number, text) per logical line: parenthesised imports joined (`from x import (\\n a,\\n b)`),
    comments cut."""
    out, buf, start = [], None, 0
    for no, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].rstrip()
        if buf is not None:
            buf += " " + text.strip()
            if ")" in text:
                out.append((start, buf.replace("(", " ").replace(")", " ")))
                buf = None
            continue
        if _FROM.match(text) and "(" in text and ")" not in text:
            buf, start = text, no
            continue
        out.append((no, text))
    return out


def module_names(source: str) -> Names:
    """The names a module binds at its top level (see the module docstring)."""
    result = Names(set(), [], False)
    body_of: int | None = None  # indentation of the def/class whose body is being skipped
    for _, line in _joined(source.split("\n")):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if body_of is not None and indent > body_of:
            continue
        body_of = None
        m = _DEF.match(line)
        if m:
            body_of = indent
            result.names.add(m.group(2))
            result.dynamic |= m.group(2) == "__getattr__" and indent == 0
            continue
        _bind(line, result)
    return result


def _bind(line: str, result: Names) -> None:
    if m := _FROM.match(line):
        for part in m.group(3).replace("\\", " ").split(","):
            words = part.split()
            if words == ["*"]:
                result.stars.append(m.group(2))
            elif words:
                result.names.add(words[-1])  # `a as b` binds b
    elif m := _IMPORT.match(line):
        for part in m.group(2).split(","):
            words = part.split()
            if words:
                result.names.add(words[-1] if "as" in words else words[0].split(".")[0])
    elif m := _ASSIGN.match(line):
        result.names.add(m.group(2))


@dataclass
class Import:
    module: str  # absolute module path
    name: str | None  # None: `import module`
    line: int


def script_imports(source: str) -> list[Import]:
    """Absolute imports of a script, anywhere in it (a function's lazy import fails just the same), with lines."""
    lines = source.split("\n")
    out, guard = [], None  # indentation of a `try:` / `with ...suppress(...)`: imports under it may fail on purpose
    for no, text in _joined(lines):
        indent = len(text) - len(text.lstrip())
        if guard is not None and text.strip() and indent <= guard:
            guard = None
        if _GUARD.match(text):
            guard = indent if guard is None else guard
            continue
        if guard is not None:
            continue
        if m := _FROM.match(text):
            if m.group(2).startswith("."):
                continue
            for part in m.group(3).replace("\\", " ").split(","):
                words = part.split()
                if words and words != ["*"]:
                    out.append(Import(m.group(2), words[0], _line_of(words[0], no, lines)))
        elif m := _IMPORT.match(text):
            out += [Import(p.split()[0], None, no) for p in m.group(2).split(",") if p.split()]
    return out


def _line_of(name: str, start: int, lines: list[str]) -> int:
    """The physical line of `name` in a parenthesised import that starts at line `start` (1-based)."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    for no in range(start, min(start + 80, len(lines)) + 1):
        text = lines[no - 1].split("#", 1)[0]
        if pattern.search(text.split(" import ", 1)[1] if no == start and " import " in text else text):
            return no
    return start


def library_of(module: str) -> str | None:
    return next((lib for lib in LIBRARIES if module == lib or module.startswith(lib + ".")), None)


class Package:
    """One version of one library's sources: a directory (a checkout, or a tree of extracts), or a wheel."""

    def __init__(self, dist: str, version: str, where: Path):
        self.dist, self.version, self.where = dist, version, Path(where)
        self._zip = zipfile.ZipFile(self.where) if self.where.is_file() else None

    def read(self, rel: str) -> str | None:
        if self._zip is not None:
            try:
                return self._zip.read(rel).decode("utf-8", errors="replace")
            except KeyError:
                return None
        p = self.where / rel
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None

    def module(self, module: str) -> tuple[str, str | None]:
        """(the file of a module, its text or None): `a/b.py`, else the package `a/b/__init__.py`."""
        base = module.replace(".", "/")
        for rel in (f"{base}.py", f"{base}/__init__.py"):
            text = self.read(rel)
            if text is not None:
                return rel, text
        return f"{base}.py", None

    def has_module(self, module: str) -> bool:
        return self.module(module)[1] is not None

    def names(self, module: str, seen: frozenset = frozenset()) -> Names | None:
        rel, text = self.module(module)
        if text is None:
            return None
        n = module_names(text)
        for star in n.stars:
            target = _absolute(star, module, rel.endswith("__init__.py"))
            if target not in seen and (sub := self.names(target, seen | {module})) is not None:
                n.names |= sub.names
                n.dynamic |= sub.dynamic
        return n


def _absolute(star: str, module: str, is_package: bool) -> str:
    if not star.startswith("."):
        return star
    dots = len(star) - len(star.lstrip("."))
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[:len(base) - (dots - 1)] if dots > 1 else base
    rest = star.lstrip(".")
    return ".".join(base + ([rest] if rest else []))


def resolve(imp: Import, pkg: Package) -> str | None:
    """None when the pinned package provides what the import asks for; else what is missing, in words."""
    if imp.name is None:
        return None if pkg.has_module(imp.module) else f"no module {imp.module}"
    n = pkg.names(imp.module)
    if n is None:
        return f"no module {imp.module}"
    if imp.name in n.names or n.dynamic or pkg.has_module(f"{imp.module}.{imp.name}"):
        return None
    return f"{imp.module} has no name {imp.name}"


def check_script(step: str, repo: str, rel: str, source: str, packages: dict[str, Package],
                 newer: dict[str, list[Package]] | None = None) -> list[Finding]:
    """One finding per library the script imports from: MISSING per name the pinned version lacks (naming the
    script line and, from `newer`, the first later version that has it), SAME when all resolve, SKIP when the
    library's sources were not given."""
    by_lib: dict[str, list[Import]] = {}
    for imp in script_imports(source):
        lib = library_of(imp.module)
        if lib:
            by_lib.setdefault(lib, []).append(imp)
    out = []
    for lib, imps in sorted(by_lib.items()):
        dist = LIBRARIES[lib][0]
        pkg = packages.get(lib)
        if pkg is None:
            out.append(Finding(step, f"{rel} imports {lib}", SKIP, where=f"{repo}:{rel}",
                               note=f"{len(imps)} import(s) of {lib} not checked: no sources of the pinned {dist} given"))
            continue
        missing = [(imp, why) for imp in imps if (why := resolve(imp, pkg))]
        for imp, why in missing:
            out.append(_missing(step, repo, rel, imp, why, pkg, (newer or {}).get(lib, [])))
        if not missing:
            out.append(Finding(step, f"{rel} imports {lib}", SAME, measured=f"{len(imps)} imports resolve",
                               where=f"{repo}:{rel}", note=f"every name {repo}'s {rel} imports from {lib} exists in "
                                                           f"{dist} {pkg.version} ({pkg.where.name})"))
    return out


def _missing(step: str, repo: str, rel: str, imp: Import, why: str, pkg: Package, newer) -> Finding:
    """`newer`: the later versions to look in, in order (a list, or checks.drift.packages.Later, which fetches each
    from the registry as it is reached): the first that has the name is named."""
    has = next((p.version for p in newer if resolve(imp, p) is None), None)
    what = f"from {imp.module} import {imp.name}" if imp.name else f"import {imp.module}"
    looked = [] if has else [p.version for p in newer]  # (iterating fetches: only when none had it)
    first = (f"{pkg.dist} {has} is the first later version that has it" if has else
             f"none of the later {pkg.dist} versions checked ({', '.join(looked)}) has it" if looked
             else "no later version was checked")
    return Finding(step, f"{rel}:{imp.line} {what}", MISSING, expected=f"{pkg.dist} {has}" if has else what,
                   measured=f"{pkg.dist} {pkg.version}", where=f"{repo}:{rel}:{imp.line}",
                   note=f"{repo}'s {rel}:{imp.line} does `{what}`, and the image's {pkg.dist} {pkg.version} has no such "
                        f"thing ({why}): the step would die at import, before its first line of work. {first}. "
                        f"What to do: pin a Model-Optimizer ref whose script matches {pkg.dist} {pkg.version}, or an "
                        f"image whose {pkg.dist} provides it" + (f" ({has} or later)." if has else "."))
