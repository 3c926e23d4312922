"""Every module of checks/ and scripts/ imports, and every script answers --help without a traceback: part of
`make test-fast`, so the fast subset touches every module even where its deeper tests are marked slow."""

import importlib
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))  # kitlib, as scripts/kit.py imports it

PACKAGES = {"checks": ROOT / "checks", "checks.steps": ROOT / "checks" / "steps", "kitlib": ROOT / "scripts" / "kitlib"}
MODULES = sorted(f"{pkg}.{p.stem}" if p.stem != "__init__" else pkg
                 for pkg, d in PACKAGES.items() for p in d.glob("*.py") if p.stem != "__main__")
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name):
    assert importlib.import_module(name).__doc__ or name.endswith("__init__") or "." not in name


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_answers_help(script):
    p = subprocess.run([sys.executable, f"scripts/{script}", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and "Traceback" not in p.stdout + p.stderr, p.stdout[-1000:] + p.stderr[-2000:]
    assert (p.stdout + p.stderr).strip()


def test_every_module_has_a_test_file_or_is_covered_by_name():
    """Every registered step has its own tests/test_<step>.py (one step, one name); a module of checks/steps/ that is
    no step is a part of one (its name starts with the step's)."""
    from checks import registry
    names = set(registry.names())
    for name in names - {"data"}:
        assert (ROOT / "tests" / f"test_{name}.py").exists(), name
    for p in (ROOT / "checks" / "steps").glob("*.py"):
        stem = p.stem.rstrip("_")
        if p.stem != "__init__" and stem not in names:
            assert any(stem.startswith(n + "_") for n in names), f"{p}: neither a step nor a part of one"
