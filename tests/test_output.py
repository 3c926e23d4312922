"""Output a person can use (issue 19): a closed pipe changes nothing, files honour the umask, `make plan` prints
shell that parses to the commands it stands for, help and dry runs install nothing, every install phase says what
it does, and `checks` has a version and full help."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from kit_env import kit, make

PROFILES = sorted(p.stem for p in (ROOT / "recipes" / "profiles").glob("*.yaml"))
SUBCOMMANDS = ("parse", "verify", "report", "diff", "bless", "drift", "watch")


def checks_argv(*args) -> list[str]:
    return [sys.executable, "-m", "checks", *map(str, args)]


def closed_pipe(argv: list[str], umask: int | None = None) -> tuple[int, str]:
    """Run with stdout a pipe whose reader is gone before the first byte (`... | head -0`): (exit code, stderr)."""
    r, w = os.pipe()
    os.close(r)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    p = subprocess.run(argv, stdout=w, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, timeout=300,
                       preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    os.close(w)
    return p.returncode, p.stderr


# ---------------------------------------------------------------- a closed pipe
@pytest.mark.parametrize("damage,code", [(None, 0), ("fail", 1), ("empty", 2)])
def test_a_closed_pipe_changes_neither_the_exit_code_nor_the_files(run, tmp_path, damage, code):
    if damage == "fail":
        log = run / "bench" / "7b-fp8" / "step.log"
        log.write_text(log.read_text().replace("1147.00 output tokens/s", "900.00 output tokens/s"))
    elif damage == "empty":
        (run / "prune" / "step.log").write_text("")
    out = tmp_path / "v.json"
    rc, err = closed_pipe(checks_argv("verify", run, "--json", out))
    assert rc == code, err[-2000:]
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err[-2000:]
    assert json.loads(out.read_text())["findings"]  # written in full although nobody read the terminal


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("verify", "--help"), ("parse", "prune", "LOG"),
                                  ("verify", "/nonexistent/run")])
def test_help_version_and_errors_through_a_closed_pipe(args, tmp_path):
    log = tmp_path / "step.log"
    log.write_text("".join(f"line {i}\n" for i in range(5000)))
    args = tuple(str(log) if a == "LOG" else a for a in args)
    direct = subprocess.run(checks_argv(*args), capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    rc, err = closed_pipe(checks_argv(*args))
    assert rc == direct.returncode and "Traceback" not in err and "BrokenPipe" not in err, err


# ---------------------------------------------------------------- the umask
def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_written_report_honours_a_strict_umask_too(pristine_run, tmp_path):
    p = subprocess.run(checks_argv("verify", pristine_run, "--step", "bench", "--json", tmp_path / "v.json"), cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       preexec_fn=lambda: os.umask(0o077))
    assert p.returncode == 0, p.stderr
    assert _mode(tmp_path / "v.json") == 0o600


@pytest.mark.slow
@pytest.mark.parametrize("umask,want", [(0o022, 0o644)])
def test_every_file_the_kit_writes_honours_the_umask(pristine_run, tmp_path, umask, want):
    # checks: verify --json/--junit, report --html, bless into a goldens file of its own
    g = tmp_path / "tiny.yaml"
    shutil.copy(ROOT / "expected" / "full.yaml", g)
    os.chmod(g, 0o640)  # a file that exists keeps its mode
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (("verify", pristine_run, "--json", tmp_path / "v.json", "--junit", tmp_path / "v.xml"),
                 ("report", pristine_run, "--expected", ROOT / "expected" / "full.yaml", "--html", tmp_path / "r.html"),
                 ("bless", pristine_run, "--into", g, "--step", "bench", "--yes")):
        p = subprocess.run(checks_argv(*argv), capture_output=True, text=True, cwd=ROOT, env=env,
                           preexec_fn=lambda: os.umask(umask))
        assert p.returncode in (0, 1), p.stdout[-2000:] + p.stderr[-2000:]
    for name in ("v.json", "v.xml", "r.html"):
        assert _mode(tmp_path / name) == want, name
    assert _mode(g) == 0o640
    # the runner: manifest.json, step.json, the stamp, the step's log
    old = os.umask(umask)
    try:
        p = kit(tmp_path, "--profile", "full", "step", "bench/9b-bf16")
    finally:
        os.umask(old)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    run = tmp_path / "runs" / "local"
    written = [run / "manifest.json", run / "bench" / "9b-bf16" / "step.json", run / "bench" / "9b-bf16" / ".done",
               run / "bench" / "9b-bf16" / "step.log"]
    assert {str(f.relative_to(run)): oct(_mode(f)) for f in written} == {str(f.relative_to(run)): oct(want) for f in written}


# ---------------------------------------------------------------- make plan prints shell
def _function_body(command: str) -> subprocess.CompletedProcess:
    """bash's own reading of a command: a function holding it, printed back by `declare -f` (comments dropped,
    layout normalised), so two texts that parse to the same commands print the same."""
    return subprocess.run(["bash", "-c", 'eval "f() {\n$1\n}" && declare -f f', "_", command],
                          capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
def test_plan_prints_one_line_of_shell_per_step_that_parses_to_its_commands(tmp_path, profile):
    p = make(tmp_path, "plan", PROFILE=profile, NODES="", **({"MODEL": "nvidia/NVIDIA-Nemotron-Nano-9B-v2"}
                                                              if profile == "one-gpu" else {}))
    assert p.returncode == 0, p.stderr[-3000:]
    printed = {}
    for line in p.stdout.splitlines():
        if line.startswith("== "):
            unit = line.split()[1]
        elif line.startswith("   $ "):
            printed[unit] = line[len("   $ "):]
    model = ["--model", "nvidia/NVIDIA-Nemotron-Nano-9B-v2"] if profile == "one-gpu" else []
    q = kit(tmp_path, "--profile", profile, "--run-dir", str(tmp_path / "runs" / "e2e"), *model, "commands",
            env_extra={"SLURM_HOST": "login1", "SLURM_ACCOUNT": "acct"})
    assert q.returncode == 0, q.stderr
    multi = json.loads(q.stdout)
    assert set(printed) == set(multi) and printed
    for unit, line in printed.items():
        syntax = subprocess.run(["bash", "-n", "-c", line], capture_output=True, text=True)
        assert syntax.returncode == 0, (unit, line, syntax.stderr)
        one, whole = _function_body(line), _function_body(multi[unit])
        assert whole.returncode == 0, (unit, whole.stderr)
        assert one.stdout == whole.stdout, (unit, line)  # no command lost to a comment, none joined wrongly


# ---------------------------------------------------------------- installs
@pytest.mark.parametrize("argv", [("help",), ("-n", "check"), ("-n", "report"), ("-n", "demo"), ("-n", "test"),
                                  ("-n", "test-fast")])
def test_help_and_dry_runs_install_nothing(tmp_path, argv):
    venv = tmp_path / "venv"
    p = subprocess.run(["make", "--no-print-directory", *argv, f"VENV={venv}", f"RUNS={tmp_path / 'runs'}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert not venv.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("goal", ["demo", "test", "test-fast", "check"])
def test_every_install_phase_says_what_it_installs_before_it_starts(tmp_path, goal):
    p = subprocess.run(["make", "--no-print-directory", "-n", goal, f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    lines = p.stdout.splitlines()
    phases = [i for i, line in enumerate(lines) if ("pip install" in line or "-m venv" in line) and not line.startswith("echo")]
    assert phases
    for i in phases:  # the announcement comes first: on the line before, or earlier on the same line
        said = (lines[i - 1] if i else "") + "\n" + re.split(r"pip install|-m venv", lines[i])[0]
        assert 'echo "[kit] setup' in said and re.search(r"~?\d+ (s|min)|seconds", said), (lines[i], said)


# ---------------------------------------------------------------- checks --version and help
def test_checks_has_a_version():
    p = subprocess.run(checks_argv("--version"), capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and re.fullmatch(r"checks \d+\.\d+\.\d+ .*\n", p.stdout), p.stdout + p.stderr


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_help_says_what_it_does_with_an_example_and_its_exit_codes(sub):
    p = subprocess.run(checks_argv(sub, "--help"), capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "COLUMNS": "120"})
    assert p.returncode == 0, p.stderr
    head = p.stdout.split("\n\n")[1]  # the description, after the usage block
    assert len(head) > 80 and f"e.g. checks {sub} " in p.stdout, p.stdout
    codes = re.findall(r"^  ([0-2])  \S", p.stdout.split("exit codes:", 1)[1], re.M)
    assert codes[0] == "0" and "2" in codes, p.stdout


def test_top_level_help_names_the_exit_codes():
    p = subprocess.run(checks_argv("--help"), capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and "exit codes: 0" in p.stdout and "--version" in p.stdout
