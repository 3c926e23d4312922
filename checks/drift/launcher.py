"""The eval step's own front door: nemo-evaluator-launcher's `--dry-run` of the tutorial's config at MODELOPT_REF
with the kit's overrides, as the step will run it (errata applied), before any GPU time. The dry-run needs no
GPU and no Slurm: it loads the config, resolves every override and env var, and prints the sbatch scripts. Its
refusal is reported with the launcher's own message (verified: 0.1.90 refuses the tutorial's yaml as written,
`Env var value 'HF_TOKEN' must have an explicit prefix`; 0.2.x refuses `deployment.multiple_instances`).

The launcher comes from the kit's pinned environment (envs/launcher.txt, built into .envs/launcher/). It runs
with a throwaway HOME (it keeps an invocation database there) and placeholder values for secrets: a dry-run
contacts nothing, and secrets never reach its output."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

from checks.findings import ERROR, FAIL, SAME, SKIP, Finding

DEFAULT = Path(".envs/launcher/bin/nemo-evaluator-launcher")
BUILD = "python3 -m venv .envs/launcher && .envs/launcher/bin/pip install -r envs/launcher.txt"
_SECRET = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.I)
_EXPORT = re.compile(r"^export\s+([A-Za-z_]\w*)=(.*)$")


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


def installed_version(launcher: Path) -> str | None:
    """The version of the launcher's distribution, from the dist-info beside it (None: not a venv's launcher)."""
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


def _environment(command: str, home: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "USER": os.environ.get("USER") or "kit",
           "LANG": "C.UTF-8"}
    for k, v in exports(command).items():
        env[k] = "kit-dry-run-placeholder" if _SECRET.search(k) else v
    env["SLURM_JOB_DIR"] = str(home / "out")  # the dry-run writes nothing the run will see
    return env


def dry_run(command: str, config_text: str, config_where: str, launcher: Path = DEFAULT, pinned: str | None = None,
            timeout: int = 300, step: str = "eval") -> list[Finding]:
    """One finding per launch of the tutorial's config in `command` (the eval step rendered with errata):
    SAME when the launcher's --dry-run accepts it, FAIL with its message when not, ERROR when the launcher
    cannot be run (not built, another version than the pin)."""
    lines = [ln for ln in launch_lines(command) if not shlex.split(ln)[shlex.split(ln).index("--config") + 1].startswith("/")]
    if not lines:
        return [Finding(step, "launcher --dry-run", SKIP, note="the step launches no nemo-evaluator-launcher run of the "
                                                               "tutorial's config")]
    launcher = Path(launcher)
    if not os.access(launcher, os.X_OK):
        return [Finding(step, "launcher --dry-run", ERROR, where=str(launcher),
                        note=f"the pinned launcher is not built here ({launcher}): the eval launch cannot be checked "
                             f"before GPU time. What to do: {BUILD}")]
    version = installed_version(launcher)
    if pinned and version and version != pinned:
        return [Finding(step, "launcher --dry-run", ERROR, expected=pinned, measured=version, where=str(launcher),
                        note=f"{launcher} is nemo-evaluator-launcher {version}, the pin is {pinned}: rebuild it ({BUILD})")]
    return [_one(line, command, config_text, config_where, launcher, version or pinned, timeout, step) for line in lines]


def _one(line: str, command: str, config_text: str, config_where: str, launcher: Path, version: str | None,
         timeout: int, step: str) -> Finding:
    argv = shlex.split(line)
    config = argv[argv.index("--config") + 1]
    shown = f"nemo-evaluator-launcher {version or '(version unknown)'} run --config {config} ... --dry-run"
    with tempfile.TemporaryDirectory(prefix="kit-dry-run-") as tmp:
        work = Path(tmp)
        (work / config).write_text(config_text)
        try:
            p = subprocess.run([str(launcher.resolve()), *argv[1:], "--dry-run"], cwd=work, env=_environment(command, work),
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Finding(step, "launcher --dry-run", ERROR, where=config_where,
                           note=f"{shown} did not finish within {timeout} s")
    if p.returncode == 0:
        return Finding(step, "launcher --dry-run", SAME, measured="accepted", where=config_where,
                       note=f"{shown} accepts {config_where} with the kit's overrides ({len(argv) - 4} override words)")
    msg = _message(p.stdout + "\n" + p.stderr)
    return Finding(step, "launcher --dry-run", FAIL, expected="accepted", measured=msg, where=config_where,
                   note=f"{shown} refuses {config_where} with the kit's overrides: \"{msg}\". The eval step would stop "
                        "there, after every GPU-hour before it. What to do: an erratum for this launcher version in "
                        "recipes/errata.yaml (versions: {nemo_evaluator_launcher: ...}), or pin a launcher that accepts it.")
