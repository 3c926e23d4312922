"""`checks report RUN_DIR --html FILE`: the verdicts as a page, with the plots people would rather look at
than read: the distillation loss curves (a baseline run overlaid), throughput and loading memory per
checkpoint beside the tutorial's, and each eval score against its golden band. Shows; never judges."""

from __future__ import annotations

import base64
import html
import io
import math

from typing import TYPE_CHECKING

from checks import registry
from checks.errors import CheckError
from checks.findings import ERROR, FAIL, PASS, SKIP, XFAIL, XPASS, Finding, summary
from checks.goldens import Goldens
from checks.values import gpu_key, is_number

if TYPE_CHECKING:
    from checks.run import Run


def _matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt
    except ImportError:
        raise CheckError("the HTML report needs matplotlib", hint="python -m pip install matplotlib") from None


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def loss_figure(plt, step: str, records: dict[str, object], goldens: Goldens, findings: list[Finding], gpu: str | None):
    """Every loss of each run (this run, and a baseline when given) against the iterations."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for label, rec in records.items():
        its = getattr(rec, "iterations", [])
        for name in sorted({n for i in its for n in i.losses}):
            pts = [(i.iteration, i.losses[name]) for i in its if name in i.losses and math.isfinite(i.losses[name])]
            if pts and max(y for _, y in pts) > 0:
                ax.plot(*zip(*pts), label=f"{label}: {name}", linewidth=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title("Distillation losses")
    ax.legend(fontsize=7)
    return fig


def _by_variant(goldens: Goldens, step: str, field: str) -> dict:
    """The goldens of one per-variant field (runs.<variant>.<field>), by variant."""
    return {g.path.split(".")[1]: g for g in goldens.steps.get(step, []) if g.path and g.path.endswith(field)}


def bench_figure(plt, step: str, records: dict[str, object], goldens: Goldens, findings: list[Finding], gpu: str | None):
    """Output tokens/s and the weights' memory per variant, this run beside the goldens."""
    record = records.get("this run")
    if record is None:
        return None
    runs = getattr(record, "runs", {})
    names = list(runs)
    gold, mem = _by_variant(goldens, step, "output_tokens_per_s"), _by_variant(goldens, step, "model_loading_gib")

    def for_gpu(n: str) -> float:
        g = gold.get(n)
        key = gpu_key(gpu or "", list(g.by_gpu)) if g is not None and g.by_gpu else None
        return g.by_gpu[key] if key else 0

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = range(len(names))
    for ax, mine, theirs, title, label in (
            (a1, [runs[n].output_tokens_per_s or 0 for n in names], [for_gpu(n) for n in names], "Output tokens/s",
             "golden for this GPU (none: 0)"),
            (a2, [runs[n].model_loading_gib or 0 for n in names], [mem[n].expect if n in mem else 0 for n in names],
             "Model loading memory (GiB)", "tutorial")):
        ax.bar([i - 0.2 for i in x], mine, 0.4, label="this run")
        ax.bar([i + 0.2 for i in x], theirs, 0.4, label=label, alpha=0.6)
        ax.set_xticks(list(x), names, rotation=20)
        ax.set_title(title)
        ax.legend(fontsize=7)
    return fig


def bands_figure(plt, step: str, records: dict[str, object], goldens: Goldens, findings: list[Finding], gpu: str | None):
    """Each score of the step against its golden band."""
    rows = [v for v in findings if v.step == step and not v.id.endswith("exit_code")
            and is_number(v.measured) and is_number(v.expected)]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1))
    for i, v in enumerate(rows):
        lo = v.low if v.low is not None else v.expected
        hi = v.high if v.high is not None else v.expected
        ax.plot([lo, hi], [i, i], color="0.7", linewidth=6)
        ax.plot(v.measured, i, "o", color="green" if v.status == PASS else "red")
    ax.set_yticks(range(len(rows)), [v.id for v in rows], fontsize=7)
    ax.set_xlabel("score (%): grey = golden ± tolerance, dot = this run")
    ax.set_title("Evaluation")
    return fig


def html_report(run: Run, goldens: Goldens, findings: list[Finding], baseline: Run | None = None) -> str:
    plt = _matplotlib()
    images = []
    for step in registry.steps():
        if step.figure is None or not step.judged:
            continue
        records = {label: r.step(step.name).record for label, r in (("baseline", baseline), ("this run", run))
                   if r is not None and r.step(step.name).record is not None}
        fig = step.figure(plt, step.name, records, goldens, findings, run.context.gpu_model) if records or any(
            v.step == step.name for v in findings) else None
        if fig is not None:
            images.append(_png(fig))
    plt.close("all")
    colour = {PASS: "#1a7f37", FAIL: "#cf222e", SKIP: "#9a6700", ERROR: "#8250df", XFAIL: "#0969da", XPASS: "#cf222e"}
    rows = "".join(
        f"<tr><td>{html.escape(v.step)}</td><td>{html.escape(v.id)}</td>"
        f"<td style='color:{colour.get(v.status, '#000')};font-weight:bold'>{v.status}</td>"
        f"<td>{html.escape(str(v.expected))[:80]}</td><td>{html.escape(str(v.measured))[:80]}</td>"
        f"<td>{html.escape(v.tolerance)}</td><td>{html.escape(v.where)}</td><td>{html.escape(v.note)[:300]}</td></tr>"
        for v in findings)
    figs = "".join(f"<p><img src='data:image/png;base64,{b}'></p>" for b in images)
    return (f"<!doctype html><meta charset='utf-8'><title>checks report {html.escape(str(run.path))}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
            "font-size:13px;text-align:left}</style>"
            f"<h1>{html.escape(str(run.path))}</h1><p>goldens: {html.escape(goldens.file)} — "
            + ", ".join(f"{n} {s}" for s, n in summary(findings).items()) + f"</p>{figs}"
            "<table><tr><th>step</th><th>check</th><th>verdict</th><th>expected</th><th>measured</th>"
            f"<th>tolerance</th><th>where</th><th>note</th></tr>{rows}</table>")
