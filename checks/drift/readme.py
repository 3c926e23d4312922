"""The tutorial README's command blocks against the kit's recipes.

Blocks are matched by what they run (torchrun + script, python + script, `vllm bench`, the launcher,
`pip install <package>`, DATA_BLEND=); a match with other text is CHANGED, a recipe without a block REMOVED, a
block without a recipe ADDED. Runs of blanks are not a difference (the README indents and aligns). The install
lines are compared too: from ModelOpt 0.45.0 the README pins another nemo-evaluator-launcher."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from checks.errors import CheckError
from checks.findings import ADDED, CHANGED, MISSING, REMOVED, SAME, Finding

_FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)^\s*```", re.S | re.M)
_PATH = re.compile(r"(/opt/(?:Model-Optimizer|Megatron-Bridge)/[\w./-]+)")
_PIP = re.compile(r"^(?:python3? -m )?pip3? install (?:-\S+ )*[\"']?([A-Za-z0-9_.-]+)")


def finding(item: str, status, detail: str = "") -> Finding:
    """A drift finding: `item` is "recipe: command signature" (or a script path), `detail` the difference."""
    step, _, what = item.partition(": ") if ": " in item else ("scripts", "", item)
    return Finding(step, what, status, note=detail)


def _commands(lines: list[str]) -> list[str]:
    """A block's lines as commands: a line plus its backslash continuations; comments and blanks between."""
    out, cmd = [], []
    for line in lines:
        if not cmd and (not line or line.startswith("#")):
            continue
        cmd.append(line)
        if not line.endswith("\\"):
            out.append("\n".join(cmd))
            cmd = []
    if cmd:
        out.append("\n".join(cmd))
    return out


def blocks(markdown: str) -> list[str]:
    """Fenced code blocks, each split into commands (a line plus its backslash continuations)."""
    out = []
    for body in _FENCE.findall(markdown):
        lines = [line.strip() for line in body.strip("\n").split("\n")]
        text = "\n".join(lines)
        out += [text] if text.startswith("DATA_BLEND=") else _commands(lines)
    return out


def signature(command: str) -> str | None:
    first = command.split("\n", 1)[0]
    if first.startswith("DATA_BLEND="):
        return "DATA_BLEND"
    words = first.split()
    if not words:
        return None
    if words[0] in ("torchrun", "python", "python3"):
        script = next((w for w in words[1:] if w.endswith(".py")), None)
        if script:
            return f"{words[0]} {Path(script).parent.name}/{Path(script).name}"
    if words[:3] == ["vllm", "bench", "throughput"]:
        return "vllm bench throughput"
    if words[0] == "nemo-evaluator-launcher":
        return " ".join(words[:2])
    m = _PIP.match(first)
    return f"pip install {m.group(1).split('[')[0]}" if m else None


def _script_dir(sig: str) -> str:
    return sig.rsplit("/", 1)[0] if "/" in sig else sig


def _norm(text: str) -> list[str]:
    # The shell splits words on any run of blanks: README alignment is no difference.
    return [" ".join(line.split()) for line in text.split("\n")]


def readme_commands(markdown: str, where: str = "README") -> dict[str, str]:
    """{signature: first command with it} of a README; CheckError (exit 2) when it holds no command block at
    all: that is not the tutorial's README (or it was cut), and comparing against it would report every recipe
    REMOVED."""
    out: dict[str, str] = {}
    for b in blocks(markdown):
        sig = signature(b)
        if sig:
            out.setdefault(sig, b)
    if not out:
        raise CheckError("the README holds no command block the kit knows (torchrun/python <script>.py, vllm bench, "
                         "nemo-evaluator-launcher, pip install, DATA_BLEND=)", where=where,
                         expected="the tutorial's README.md (examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2/README.md)",
                         hint="pass the tutorial's README at the ref; a README with no fenced commands cannot be compared")
    return out


def _match(sig: str, readme: dict[str, str], used: set) -> str | None:
    if sig in readme:
        return sig
    return next((s for s in readme if s not in used and _script_dir(s) == _script_dir(sig)
                 and s.split()[0] == sig.split()[0]), None)


def compare(recipes: dict[str, str], markdown: str, where: str = "README") -> list[Finding]:
    """recipes: name -> the recipe's command in the tutorial's own words (placeholders put back)."""
    readme = readme_commands(markdown, where)
    out, used = [], set()
    for name, text in recipes.items():
        for cmd in (c for c in blocks(f"```\n{text}\n```") if signature(c)):
            sig = signature(cmd)
            match = _match(sig, readme, used)
            if match is None:
                out.append(finding(f"{name}: {sig}", REMOVED, "no such command in the README any more"))
                continue
            used.add(match)
            if _norm(readme[match]) == _norm(cmd):
                out.append(finding(f"{name}: {sig}", SAME))
            else:
                d = "\n".join(difflib.unified_diff(_norm(cmd), _norm(readme[match]), "recipe", "README", lineterm="", n=0))
                out.append(finding(f"{name}: {sig}", CHANGED, d))
    for sig, b in readme.items():
        if sig not in used and not any(d.id == sig for d in out):
            out.append(finding(f"README: {sig}", ADDED, b.split("\n", 1)[0]))
    return out


_ROOTS = {"/opt/Model-Optimizer": "Model-Optimizer", "/opt/Megatron-Bridge": "Megatron-Bridge"}


def missing_paths(commands: list[str], modelopt_root: Path | None, bridge_root: Path | None) -> list[Finding]:
    """Script paths the commands call that do not exist under the given checkouts, each named with its repository."""
    out = []
    roots = {"/opt/Model-Optimizer": modelopt_root, "/opt/Megatron-Bridge": bridge_root}
    for p in sorted({m for c in commands for m in _PATH.findall(c)}):
        for prefix, root in roots.items():
            if root is not None and p.startswith(prefix + "/"):
                rel = p[len(prefix) + 1:]
                if not (Path(root) / rel).exists():
                    out.append(Finding("scripts", p, MISSING, expected=f"{_ROOTS[prefix]}:{rel}", where=f"{_ROOTS[prefix]}:{rel}",
                                       note=f"{_ROOTS[prefix]}'s {rel} is not in its checkout at {root}"))
    return out
