"""`make demo`: the checks on real H100 output (demo/real-runs) with no GPU and no network, quickly."""

import os
import re
import subprocess
import sys
import time

from conftest import ROOT

REAL = ROOT / "demo" / "real-runs"


def test_make_demo_runs_the_demo_script():
    p = subprocess.run(["make", "--no-print-directory", "-n", "demo"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "demo/run_demo.py --out build/demo" in p.stdout


def test_demo_verdicts_on_the_real_runs(tmp_path):
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "demo/run_demo.py", "--out", str(tmp_path / "out")], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=300)
    wall = time.monotonic() - t0
    print(f"demo wall time: {wall:.1f} s")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "Traceback" not in p.stdout + p.stderr
    summary = p.stdout.split("=== summary", 1)[1].splitlines()
    verdicts = [ln.strip() for ln in summary if ln.startswith("  ")]
    assert len(verdicts) == 6 and all(v.startswith("as expected") for v in verdicts), verdicts
    v = "\n".join(verdicts)
    assert re.search(r"verify base-0\.44\.0 --step quantize: [1-9]\d* PASS, 0 FAIL, 0 ERROR, exit 0", v), v
    assert "diff base-0.44.0 -> intent-0.46.0: 0 CHANGED" in v
    assert "diff base-0.44.0 -> aggr-0.46.0: 2 CHANGED (layout_mamba_in_proj, layout_mamba_out_proj), exit 1" in v
    assert "7B FP8: conservative 2 XFAIL (layout_mamba_in_proj, layout_mamba_out_proj), aggressive 15/15 PASS" in v
    assert "asis-0.45.0 quantize: exit_code FAIL (measured 1" in v
    assert (tmp_path / "out" / "report.html").stat().st_size > 1000
    # the commands a user would type are shown, and their tables printed whole (not a TTY: one finding per line)
    assert "$ checks diff demo/real-runs/base-0.44.0 demo/real-runs/aggr-0.46.0 --step quantize" in p.stdout
    assert "\nDIFFERS run.versions.modelopt  candidate=0.46.0 baseline=0.44.0" in p.stdout
    assert p.stdout.rstrip().endswith("in a browser") and "demo: OK" in p.stdout
    assert wall < 120
    # every file the demo's notes cite is in the repository: none outside it (../shared/...), none missing
    cited = set(re.findall(r"(?:\.\./|(?<![\w/.-])(?:demo|expected|recipes|tests|checks|scripts)/)[\w./-]*\w", p.stdout))
    assert any(c.startswith("demo/real-runs/7b-fp8") for c in cited), cited
    assert not [c for c in cited if c.startswith("../") or not (ROOT / c).exists()], cited


def test_demo_needs_nothing_beside_the_repository():
    """Every link in the sample stays inside its run (one dangles, as on the GPU machine); no path leads to ../shared."""
    links = [p for p in REAL.rglob("*") if p.is_symlink()]
    assert links
    for link in links:
        target = os.readlink(link)
        assert not os.path.isabs(target) and (link.parent / target).resolve().is_relative_to(REAL.resolve())
    dangling = sorted(str(p.relative_to(REAL)) for p in links if not p.exists())
    assert dangling == [f"{r}/convert/hf_iter_40" for r in ("aggr-0.46.0", "asis-0.45.0", "base-0.44.0", "intent-0.45.0",
                                                            "intent-0.46.0", "intent-0.47.0")]
    assert "shared" not in (ROOT / "demo" / "run_demo.py").read_text()
    assert sum(p.stat().st_size for p in REAL.rglob("*") if p.is_file() and not p.is_symlink()) < 30e6
