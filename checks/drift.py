"""`checks drift`: compare the kit's recipes with the command blocks of the tutorial README at some
Model-Optimizer ref, and check that the scripts they call exist at that ref.

Blocks are matched by what they run (torchrun + script, python + script, `vllm bench`, the launcher,
DATA_BLEND=); a match with other text is CHANGED, a recipe without a block REMOVED, a block without a
recipe ADDED. Runs of blanks are not a difference (the README indents and aligns)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from checks.findings import ADDED, CHANGED, MISSING, REMOVED, SAME, Finding
_FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)^\s*```", re.S | re.M)
_PATH = re.compile(r"(/opt/(?:Model-Optimizer|Megatron-Bridge)/[\w./-]+)")


def finding(item: str, status, detail: str = "") -> Finding:
    """A drift finding: `item` is "recipe: command signature" (or a script path), `detail` the difference."""
    step, _, what = item.partition(": ") if ": " in item else ("scripts", "", item)
    return Finding(step, what, status, note=detail)


def blocks(markdown: str) -> list[str]:
    """Fenced code blocks, each split into commands (a line plus its backslash continuations)."""
    out = []
    for body in _FENCE.findall(markdown):
        lines = [l.strip() for l in body.strip("\n").split("\n")]
        text = "\n".join(lines)
        if text.startswith("DATA_BLEND="):
            out.append(text)
            continue
        cmd: list[str] = []
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


def signature(command: str) -> str | None:
    first = command.split("\n", 1)[0]
    if first.startswith("DATA_BLEND="):
        return "DATA_BLEND"
    words = first.split()
    if not words:
        return None
    if words[0] in ("torchrun", "python", "python3"):
        script = next((w for w in words[1:] if w.endswith(".py")), None)
        return f"{words[0]} {Path(script).parent.name}/{Path(script).name}" if script else None
    if words[:3] == ["vllm", "bench", "throughput"]:
        return "vllm bench throughput"
    if words[0] == "nemo-evaluator-launcher":
        return " ".join(words[:2])
    return None


def _script_dir(sig: str) -> str:
    return sig.rsplit("/", 1)[0] if "/" in sig else sig


def compare(recipes: dict[str, str], markdown: str) -> list[Finding]:
    """recipes: name -> the recipe's command in the tutorial's own words (placeholders put back)."""
    readme = {}
    for b in blocks(markdown):
        sig = signature(b)
        if sig:
            readme.setdefault(sig, b)
    out, used = [], set()
    for name, text in recipes.items():
        cmds = [c for c in blocks(f"```\n{text}\n```") if signature(c)]
        for cmd in cmds:
            sig = signature(cmd)
            match = sig if sig in readme else next(
                (s for s in readme if s not in used and _script_dir(s) == _script_dir(sig) and s.split()[0] == sig.split()[0]), None)
            if match is None:
                out.append(finding(f"{name}: {sig}", REMOVED, "no such command in the README any more"))
                continue
            used.add(match)
            # The shell splits words on any run of blanks: README alignment is no difference.
            norm = lambda t: [" ".join(l.split()) for l in t.split("\n")]  # noqa: E731
            if norm(readme[match]) == norm(cmd):
                out.append(finding(f"{name}: {sig}", SAME))
            else:
                d = "\n".join(difflib.unified_diff(norm(cmd), norm(readme[match]), "recipe", "README", lineterm="", n=0))
                out.append(finding(f"{name}: {sig}", CHANGED, d))
    for sig, b in readme.items():
        if sig not in used and not any(d.id == sig for d in out):
            out.append(finding(f"README: {sig}", ADDED, b.split("\n", 1)[0]))
    return out


def missing_paths(commands: list[str], modelopt_root: Path | None, bridge_root: Path | None) -> list[Finding]:
    """Script paths the commands call that do not exist under the given checkouts."""
    out = []
    roots = {"/opt/Model-Optimizer": modelopt_root, "/opt/Megatron-Bridge": bridge_root}
    for p in sorted({m for c in commands for m in _PATH.findall(c)}):
        for prefix, root in roots.items():
            if root is not None and p.startswith(prefix + "/"):
                local = Path(root) / p[len(prefix) + 1:]
                if not local.exists():
                    out.append(finding(p, MISSING, f"not at {local}"))
    return out
