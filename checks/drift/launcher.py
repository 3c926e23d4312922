"""The eval step's own front door: nemo-evaluator-launcher's `--dry-run` of the tutorial's config at MODELOPT_REF
with the kit's overrides, as the step will run it (errata applied), before any GPU time. The dry-run needs no
GPU and no Slurm: it loads the config, resolves every override and env var, and prints the sbatch scripts. Its
refusal is reported with the launcher's own message (verified: 0.1.90 refuses the tutorial's yaml as written,
`Env var value 'HF_TOKEN' must have an explicit prefix`; 0.2.x refuses `deployment.multiple_instances`).

The launcher is the one the step will run (inside the image: `nemo-evaluator-launcher` on PATH), or the kit's
pinned environment (envs/launcher.txt, built into .envs/launcher/); its version, as it reports it, must be the pin.
It runs with a throwaway HOME (it keeps an invocation database there) and placeholder values for secrets: a
dry-run contacts nothing, and secrets never reach its output. A config the step makes from the tutorial's (the
MATH500=1 addition: enable_task.py) is made the same way and dry-run too."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from checks.findings import ERROR, FAIL, SAME, SKIP, Finding

DEFAULT = Path(".envs/launcher/bin/nemo-evaluator-launcher")
BUILD = "python3 -m venv .envs/launcher && .envs/launcher/bin/pip install -r envs/launcher.txt"
_SECRET = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.I)
_EXPORT = re.compile(r"^export\s+([A-Za-z_]\w*)=(.*)$")
_HOST = re.compile(r"=host:([A-Za-z_]\w*)")
_GENERATED = re.compile(r"python3?\s+(\S*/enable_task\.py)\s+(\S+)\s+(\S+)\s*>\s*(\S+)")
PLACEHOLDER = "kit-dry-run-placeholder"
EVAL_YAML_NAME = "nemo_evaluator.yaml"


def launch_lines(command: str) -> list[str]:
    """The `nemo-evaluator-launcher run ...` lines of a rendered command (continuations joined)."""
    return [line.strip() for line in re.sub(r"\\\n\s*", " ", command).split("\n")
            if line.strip().startswith("nemo-evaluator-launcher run ")]


def exports(command: str) -> dict[str, str]:
    out = {}
    for line in command.split("\n"):
        m = _EXPORT.match(line.strip())
        if m:
            words = shlex.split(m.group(2)) or [""]
            out[m.group(1)] = words[0]
    return out


def resolve(launcher: Path | str) -> Path | None:
    """The launcher executable: a path, or a name looked up on PATH (inside the image: the step's own launcher)."""
    text = str(launcher)
    found = text if "/" in text else shutil.which(text)
    return Path(found) if found and os.access(found, os.X_OK) and Path(found).is_file() else None


def installed_version(launcher: Path, home: Path | None = None) -> str | None:
    """The launcher's version as it reports it (`--version` prints `nemo_evaluator_launcher: 0.1.90`), else from the
    dist-info beside it; None when neither says."""
    try:
        with tempfile.TemporaryDirectory(prefix="kit-launcher-") as tmp:
            p = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, timeout=120,
                               env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home or tmp),
                                    "LANG": "C.UTF-8"})
        m = re.search(r"^nemo_evaluator_launcher: (\S+)$", p.stdout + p.stderr, re.M)
        if m:
            return m.group(1)
    except (OSError, subprocess.SubprocessError):
        pass
    venv = Path(launcher).resolve().parent.parent
    for d in venv.glob("lib/python*/site-packages/nemo_evaluator_launcher-*.dist-info"):
        return d.name[len("nemo_evaluator_launcher-"):-len(".dist-info")]
    return None


def _message(output: str) -> str:
    """The launcher's own one-line reason: its `✗ ... | Error: ...` line, else the last line of the traceback."""
    lines = [line.strip() for line in output.split("\n") if line.strip()]
    for line in lines:
        if "Error:" in line and ("✗" in line or "failed" in line.lower()):
            return line.split("Error:", 1)[1].strip()
    tail = [line for line in lines if not line.startswith(("File ", "^", "Traceback"))]
    return tail[-1] if tail else "(no output)"


def _environment(command: str, line: str, home: Path) -> dict[str, str]:
    """What the launcher sees: the step's exports, placeholders for secrets and for every `host:NAME` the launch
    line passes that the step does not export (the runner passes those, e.g. JUDGE_API_KEY; preflight checks them)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "USER": os.environ.get("USER") or "kit",
           "LANG": "C.UTF-8"}
    for k, v in exports(command).items():
        env[k] = PLACEHOLDER if _SECRET.search(k) else v
    for name in _HOST.findall(line):
        env.setdefault(name, PLACEHOLDER)
    env["SLURM_JOB_DIR"] = str(home / "out")  # the dry-run writes nothing the run will see
    return env


def _generator(command: str, config: str) -> tuple[str, str, str] | None:
    """(enable_task.py path, source config, task) when the step writes `config` with the kit's enable_task.py (the
    MATH500=1 addition), else None."""
    for m in _GENERATED.finditer(re.sub(r"\\\n\s*", " ", command)):
        if m.group(4) == config:
            return m.group(1), m.group(2), m.group(3)
    return None


def dry_run(command: str, config_text: str, config_where: str, launcher: Path | str = DEFAULT, pinned: str | None = None,
            timeout: int = 300, step: str = "eval") -> list[Finding]:
    """One finding per launch in `command` (the eval step rendered with errata) of the tutorial's config, or of a
    config the step makes from it (the MATH500=1 addition): SAME when the launcher's --dry-run accepts it, FAIL
    with its message when not, ERROR when the launcher cannot be run (not built, another version than the pin)."""
    lines = launch_lines(command)
    if not lines:
        return [Finding(step, "launcher --dry-run", SKIP, note="the step launches no nemo-evaluator-launcher run")]
    exe = resolve(launcher)
    if exe is None:
        return [Finding(step, "launcher --dry-run", ERROR, where=str(launcher),
                        note=f"the launcher is not here ({launcher}: not an executable, nor on PATH): the eval launch "
                             f"cannot be checked before GPU time. What to do: inside the image it is on PATH; here, "
                             f"build the kit's pinned one ({BUILD})")]
    version = installed_version(exe)
    if pinned and version != pinned:
        return [Finding(step, "launcher --dry-run", ERROR, expected=pinned, measured=version or "unknown", where=str(exe),
                        note=f"{exe} is nemo-evaluator-launcher {version or '(it does not say which version)'}, the pin "
                             f"is {pinned}: its dry-run would not say what the pinned launcher does. What to do: use the "
                             f"pinned one ({BUILD})")]
    return [_one(line, command, config_text, config_where, exe, version or pinned, timeout, step) for line in lines]


def _one(line: str, command: str, config_text: str, config_where: str, launcher: Path, version: str | None,
         timeout: int, step: str) -> Finding:
    argv = shlex.split(line)
    i = argv.index("--config") + 1 if "--config" in argv else None
    config = argv[i] if i is not None and i < len(argv) else None
    fid = "launcher --dry-run" + ("" if config is None or "/" not in config else f" {Path(config).name}")
    shown = f"nemo-evaluator-launcher {version or '(version unknown)'} run --config {config} ... --dry-run"
    with tempfile.TemporaryDirectory(prefix="kit-dry-run-") as tmp:
        work = Path(tmp)
        (work / EVAL_YAML_NAME).write_text(config_text)
        if config is None:
            return Finding(step, fid, ERROR, where=config_where, note=f"the launch line has no --config: {line[:200]}")
        if "/" in config:  # made by the step from the tutorial's yaml: make it the same way here
            gen = _generator(command, config)
            if gen is None:
                return Finding(step, fid, SKIP, where=config, note=f"{config} is made by the step in a way the kit does "
                                                                   "not know: its launch was not dry-run")
            script, source, task = gen
            p = subprocess.run([sys.executable, script, source, task], cwd=work, capture_output=True, text=True)
            if p.returncode != 0:
                return Finding(step, fid, FAIL, expected="a config", measured=(p.stderr or p.stdout).strip()[-300:],
                               where=config_where, note=f"the step's `{Path(script).name} {source} {task}` fails on "
                                                        f"{config_where}: the launch would not start")
            (work / "generated.yaml").write_text(p.stdout)
            argv[i] = "generated.yaml"
        try:
            p = subprocess.run([os.path.abspath(launcher), *argv[1:], "--dry-run"], cwd=work,
                               env=_environment(command, line, work), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Finding(step, fid, ERROR, where=config_where, note=f"{shown} did not finish within {timeout} s")
    if p.returncode == 0:
        return Finding(step, fid, SAME, measured="accepted", where=config_where,
                       note=f"{shown} accepts {config_where}{' (as the step makes it)' if '/' in config else ''} with the "
                            f"kit's overrides ({sum(a == '-o' for a in argv)} -o overrides)")
    msg = _message(p.stdout + "\n" + p.stderr)
    return Finding(step, fid, FAIL, expected="accepted", measured=msg, where=config_where,
                   note=f"{shown} refuses {config_where} with the kit's overrides: \"{msg}\". The eval step would stop "
                        "there, after every GPU-hour before it. What to do: an erratum for this launcher version in "
                        "recipes/errata.yaml (versions: {nemo_evaluator_launcher: ...}), or pin a launcher that accepts it.")
