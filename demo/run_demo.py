"""`make demo`: the kit's checks on real output from an H100 (demo/real-runs, see demo/PROVENANCE.md), with no
GPU and no network. Runs `checks verify`, `checks diff` twice and `checks report` as a user would, then says
whether each behaved as it should. Exit 0 when all did, 1 otherwise.

    python demo/run_demo.py [--out build/demo]"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks import engine, goldens, judge, render  # noqa: E402
from checks.findings import ERROR, PASS, XFAIL, Finding, summary  # noqa: E402
from checks.hfckpt import HFCheckpoint  # noqa: E402
from checks.run import Context, Run  # noqa: E402
from checks.steps.quantize import QuantizeRecord  # noqa: E402

RUNS = Path("demo/real-runs")
BASE = RUNS / "base-0.44.0"
TINY, FULL = Path("expected/tiny.yaml"), Path("expected/full.yaml")
MAMBA = ["layout_mamba_in_proj", "layout_mamba_out_proj"]


def banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def checks(*args: object) -> int:
    """One `checks` command, printed and run as a user would run it; its output goes straight to the terminal."""
    argv = [str(a) for a in args]
    print("$ checks " + " ".join(argv), flush=True)
    return subprocess.run([sys.executable, "-m", "checks", *argv], cwd=ROOT).returncode


def load_json(path: Path) -> dict:
    return json.loads((ROOT / path).read_text(encoding="utf-8"))


def ran_for_real(run: Path) -> tuple[list[str], list[str]]:
    """Steps with the runner's step.json (they ran) and steps with only a stamp (written by hand)."""
    ran, stamped = [], []
    for d in sorted(p for p in (ROOT / run).iterdir() if p.is_dir()):
        (ran if (d / "step.json").is_file() else stamped if (d / ".done").is_file() else []).append(d.name)
    return ran, stamped


def from_stored_parse(path: Path) -> QuantizeRecord:
    """A QuantizeRecord from `checks parse quantize` output kept as JSON (fields the parse did not have stay default)."""
    doc = load_json(path)
    ck = doc.get("checkpoint") or {}
    ck_fields = {f.name for f in dataclasses.fields(HFCheckpoint)}
    rec_fields = {f.name for f in dataclasses.fields(QuantizeRecord)} - {"checkpoint", "variants"}
    rec = QuantizeRecord(**{k: v for k, v in doc.items() if k in rec_fields})
    rec.checkpoint = HFCheckpoint(**{k: v for k, v in ck.items() if k in ck_fields})
    return rec


def seven_b() -> list[Finding]:
    """expected/full.yaml's quantize goldens judged on the kit's parse of the 7B exports (10.8 and 7.8 GiB, not
    shipped: their headers and parse are)."""
    rec = QuantizeRecord(variants={v: from_stored_parse(RUNS / "7b-fp8" / v / "checks-parse-quantize.json")
                                   for v in ("conservative", "aggressive")})
    g = goldens.load(ROOT / FULL)
    return [judge.judge_value(x, rec, Context()) for x in g.steps["quantize"] if not x.mean_of]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/demo"), help="where the JSON and HTML go (default: %(default)s)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    verdicts: list[tuple[bool, str]] = []

    banner("the runs: demo/real-runs (real ModelOpt output from one H100; demo/PROVENANCE.md)")
    for run in sorted(p for p in RUNS.iterdir() if (p / "manifest.json").is_file()):
        m = load_json(run / "manifest.json")
        ran, stamped = ran_for_real(run)
        print(f"  {run.name:<14} ModelOpt {m.get('versions', {}).get('modelopt')}, {m.get('gpu', {}).get('model')}; "
              f"ran: {', '.join(ran)}; stamped by hand, not judged: {', '.join(stamped) or 'none'}")

    banner("1. checks verify: the 0.44.0 run's quantize step against the tiny tier's goldens")
    ran, stamped = ran_for_real(BASE)
    print(f"   (only quantize is judged: data ran but has no goldens; {', '.join(stamped)} were stamped by hand)")
    rc = checks("verify", BASE, "--expected", TINY, "--step", "quantize", "--json", out / "verify.json")
    s = load_json(out / "verify.json")["summary"]
    verdicts.append((rc == 0 and s["FAIL"] == s["ERROR"] == 0,
                     f"verify base-0.44.0 --step quantize: {s['PASS']} PASS, {s['FAIL']} FAIL, {s['ERROR']} ERROR, "
                     f"exit {rc} (expected: all PASS, exit 0)"))

    banner("2. checks diff: ModelOpt 0.44.0 (the tutorial's patch) vs 0.46.0 (--qformat mamba_moe_fp8_conservative)")
    rc = checks("diff", BASE, RUNS / "intent-0.46.0", "--step", "quantize", "--json", out / "diff-intent-0.46.0.json")
    d = load_json(out / "diff-intent-0.46.0.json")
    changed = [f["id"] for f in d["findings"] if f["status"] == "CHANGED"]
    verdicts.append((rc == 0 and not changed,
                     f"diff base-0.44.0 -> intent-0.46.0: {d['summary'].get('CHANGED', 0)} CHANGED, "
                     f"{d['summary'].get('SAME', 0)} SAME, {d['summary'].get('DIFFERS', 0)} DIFFERS (not judged), exit {rc} "
                     "(expected: no CHANGED, exit 0)"))

    banner("3. checks diff: 0.44.0 vs 0.46.0 with the aggressive config (--qformat mamba_moe_fp8_aggressive)")
    rc = checks("diff", BASE, RUNS / "aggr-0.46.0", "--step", "quantize", "--json", out / "diff-aggr-0.46.0.json")
    d = load_json(out / "diff-aggr-0.46.0.json")
    changed = sorted(f["id"] for f in d["findings"] if f["status"] == "CHANGED")
    verdicts.append((rc == 1 and changed == MAMBA,
                     f"diff base-0.44.0 -> aggr-0.46.0: {len(changed)} CHANGED ({', '.join(changed)}), exit {rc} "
                     "(expected: exactly the Mamba in_proj/out_proj, BF16 -> F8_E4M3, exit 1)"))

    banner("4. the known discrepancy on the pruned 7B's real FP8 exports (expected/full.yaml, judged on the kit's "
           "stored parse of their headers)")
    found = seven_b()
    render.terminal(found, render.Console(), "quantize goldens of expected/full.yaml on demo/real-runs/7b-fp8")
    xfail = sorted(f.id for f in found if f.status == XFAIL)
    aggr = [f for f in found if f.id.startswith("aggressive_")]
    ok = xfail == MAMBA and aggr and all(f.status == PASS for f in aggr) and \
        all(f.status in (PASS, XFAIL) for f in found)
    passed = sum(f.status == PASS for f in aggr)
    verdicts.append((bool(ok), f"7B FP8: conservative {len(xfail)} XFAIL ({', '.join(xfail)}), aggressive "
                               f"{passed}/{len(aggr)} PASS (expected: 2 XFAIL, all aggressive PASS)"))

    banner("5. a refused run: asis-0.45.0 (the 0.44 patch at ModelOpt 0.45.0)")
    log = (RUNS / "asis-0.45.0" / "quantize" / "step.log").read_text(encoding="utf-8").strip().splitlines()
    print("   its quantize/step.log ends:\n     " + log[-1])
    found = engine.evaluate(goldens.load(TINY), Run.load(RUNS / "asis-0.45.0"), steps=["quantize"])
    code = next((f for f in found if f.id == "exit_code"), None)
    status, measured = (code.status, code.measured) if code else ("missing", "—")
    verdicts.append((status == "FAIL", f"asis-0.45.0 quantize: exit_code {status} (measured {measured}; "
                                       "expected: FAIL, the refusal reported, not hidden)"))

    banner("6. checks report: the HTML page (every step of the tiny goldens, so the hand-stamped ones show as ERROR)")
    html = out / "report.html"
    rc = checks("report", BASE, "--expected", TINY, "--html", html)
    found = engine.evaluate(goldens.load(TINY), Run.load(BASE))
    bad = sorted({f.step for f in found if f.status == ERROR} - set(stamped) - {"eval", "bench"})
    verdicts.append((html.is_file() and rc in (0, 2) and not bad,
                     f"report: {html} written; {', '.join(f'{n} {k}' for k, n in summary(found).items())}; ERRORs only in "
                     f"steps that did not run{'' if not bad else ' — but also in ' + ', '.join(bad)}"))

    banner(f"summary ({time.monotonic() - t0:.1f} s)")
    for good, line in verdicts:
        print(f"  {'as expected' if good else 'NOT AS EXPECTED':<15} {line}")
    ok = all(good for good, _ in verdicts)
    print(f"\ndemo: {'OK' if ok else 'FAILED'}; open {(ROOT / html)} in a browser")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
