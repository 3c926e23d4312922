"""What a step's command calls, checked before RUNNER=local runs it in this environment: every program on PATH,
every Python script at its path, and every module such a script (or `python -m`) imports, importable by the
interpreter that will run it. Outside the image this turns "No module named 'transformers'" an hour into a step
into one line of the preflight, before anything starts.

Paths under /opt/Model-Optimizer and /opt/Megatron-Bridge (where the image keeps the checkouts the recipes name)
are looked up under MODELOPT_DIR and BRIDGE_DIR, as `checks drift` does."""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from kitlib.render import one_line

# Shell words that are no program to look for on PATH.
_SHELL = {"for", "do", "done", "in", "if", "then", "else", "elif", "fi", "while", "until", "case", "esac", "{", "}",
          "!", "export", "set", "unset", "cd", "echo", "printf", "true", "false", "test", "[", "[[", "read", "source",
          ".", "exit", "return", "local", "shift", "eval", "exec", "wait", "trap", "time", ":"}
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "|&", ";;"}
_LEADING = {"do", "then", "else", "elif", "if", "while", "until", "!", "{", "time"}  # a command follows them
_PYTHONS = ("python", "python3")


def _commands(command: str) -> list[list[str]]:
    """The simple commands of a shell text, each a list of words (quotes removed)."""
    lex = shlex.shlex(one_line(command), posix=True, punctuation_chars=";&|()")
    lex.whitespace_split = True
    out, cur = [], []
    try:
        for tok in lex:
            if tok in _SEPARATORS:
                if cur:
                    out.append(cur)
                cur = []
            else:
                cur.append(tok)
    except ValueError:  # unbalanced quotes: the step's own shell will say so
        return out
    if cur:
        out.append(cur)
    return out


def _script_imports(path: Path) -> list[str]:
    """Top-level packages a Python script imports (anywhere in it), less those it ships beside itself and those
    imported under `try: ... except ImportError` (optional). Empty when the file cannot be read as Python."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return []
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            optional |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    local = {p.stem for p in path.parent.glob("*.py")} | {p.name for p in path.parent.iterdir() if p.is_dir()}
    return sorted(n for n in names - local - {"__future__"} if n not in sys.stdlib_module_names)


def _catches_import_error(h: ast.ExceptHandler) -> bool:
    kinds = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
    return h.type is None or any(isinstance(k, ast.Name) and k.id in ("ImportError", "ModuleNotFoundError",
                                                                        "Exception") for k in kinds)


def _interpreter(program: str, path_var: str) -> str | None:
    """The Python that `program` (python, python3, torchrun) runs under: itself, or its script's shebang."""
    exe = shutil.which(program, path=path_var)
    if exe is None or program in _PYTHONS:
        return exe
    try:
        first = Path(exe).open("rb").readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and Path(words[0]).name == "env" and len(words) > 1:
        return shutil.which(words[1], path=path_var)
    return words[0] if words else None


_PROBE = "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m) is None))"


def _missing_modules(python: str, modules: list[str], env: dict[str, str]) -> list[str] | None:
    """The modules `python` cannot find (None: it could not be asked)."""
    try:
        p = subprocess.run([python, "-c", _PROBE, *modules], capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.split() if p.returncode == 0 else None


def problems(unit_name: str, command: str, cwd: str, env: dict[str, str], roots: dict[str, str]) -> list[str]:
    """What `command`, run in `cwd` with `env`, would miss here. roots: {"/opt/Model-Optimizer": MODELOPT_DIR, ...}."""
    path_var = env.get("PATH", os.defpath)
    found: list[str] = []
    wants: dict[str, dict[str, list[str]]] = {}  # interpreter -> module -> what needs it
    for words in _commands(command):
        while words and (words[0] in _LEADING or "=" in words[0] and words[0].split("=", 1)[0].isidentifier()):
            words = words[1:]  # `do python ...` in a loop, VAR=value before a command
        if not words or words[0] in _SHELL or "$" in words[0]:
            if words and words[0] == "cd" and len(words) > 1 and "$" not in words[1]:
                cwd = str(Path(cwd, words[1]))
            continue
        program = words[0]
        if shutil.which(program, path=path_var) is None:
            found.append(f"{unit_name} runs `{program}`, which is not on PATH here")
            continue
        if program not in _PYTHONS + ("torchrun",):
            continue
        python = _interpreter(program, path_var)
        args = words[1:]
        while args and args[0].startswith("-") and args[0] not in ("-m", "-"):
            args = args[1 + (program == "torchrun" and "=" not in args[0] and len(args) > 1
                                 and not args[1].startswith("-")):]
        if not args or args[0] == "-" or "$" in args[0]:
            continue
        if args[0] == "-m" and len(args) > 1 and program in _PYTHONS:
            wants.setdefault(python, {}).setdefault(args[1].split(".")[0], []).append(f"`{program} -m {args[1]}`")
            continue
        script = args[0]
        for prefix, root in roots.items():
            if root and script.startswith(prefix + "/"):
                script = root + script[len(prefix):]
        spath = Path(cwd, script)
        if not spath.is_file():
            where = f" (looked for {spath})" if str(spath) != args[0] else ""
            found.append(f"{unit_name} runs {args[0]}{where}, which does not exist here")
            continue
        for m in _script_imports(spath):
            wants.setdefault(python, {}).setdefault(m, []).append(args[0])
    for python, modules in wants.items():
        if python is None:
            continue
        by_what: dict[str, list[str]] = {}
        for m in _missing_modules(python, sorted(modules), env) or []:
            by_what.setdefault(" and ".join(sorted(set(modules[m]))), []).append(f"`{m}`")
        for what, ms in by_what.items():
            found.append(f"{unit_name} runs {what}, which imports {', '.join(ms)}: {python} cannot import "
                         f"{'it' if len(ms) == 1 else 'them'} here")
    return found
