"""`checks report RUN_DIR --html FILE`: the verdicts as a page, with the plots people would rather look at
than read: the distillation loss curves (a baseline run overlaid), throughput and loading memory per
checkpoint beside the tutorial's, and each eval score against its golden band. Shows; never judges."""

from __future__ import annotations

import base64
import html
import io
import math

from checks import judge
from checks.errors import CheckError
from checks.findings import ERROR, FAIL, PASS, SKIP, XFAIL, XPASS, Finding, summary
from checks.goldens import Goldens
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


def loss_figure(plt, runs: dict[str, object]):
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for label, rec in runs.items():
        its = getattr(rec, "iterations", [])
        names = sorted({n for i in its for n in i.losses})
        for name in names:
            pts = [(i.iteration, i.losses[name]) for i in its if name in i.losses and math.isfinite(i.losses[name])]
            if pts and max(y for _, y in pts) > 0:
                ax.plot(*zip(*pts), label=f"{label}: {name}", linewidth=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title("Distillation losses")
    ax.legend(fontsize=7)
    return fig


def bench_figure(plt, record, goldens: Goldens, gpu: str | None):
    runs = getattr(record, "runs", {})
    names = list(runs)
    gold = {g.path.split(".")[1]: g for g in goldens.steps.get("bench", []) if g.path and g.path.endswith("output_tokens_per_s")}
    mem = {g.path.split(".")[1]: g for g in goldens.steps.get("bench", []) if g.path and g.path.endswith("model_loading_gib")}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = range(len(names))
    key = lambda g: judge.gpu_key(gpu or "", list(g.by_gpu)) if g.by_gpu else None  # noqa: E731
    a1.bar([i - 0.2 for i in x], [runs[n].output_tokens_per_s or 0 for n in names], 0.4, label="this run")
    a1.bar([i + 0.2 for i in x], [(gold[n].by_gpu[key(gold[n])] if n in gold and key(gold[n]) else 0) for n in names],
           0.4, label="golden for this GPU (none: 0)", alpha=0.6)
    a1.set_xticks(list(x), names, rotation=20)
    a1.set_title("Output tokens/s")
    a1.legend(fontsize=7)
    a2.bar([i - 0.2 for i in x], [runs[n].model_loading_gib or 0 for n in names], 0.4, label="this run")
    a2.bar([i + 0.2 for i in x], [mem[n].expect if n in mem else 0 for n in names], 0.4, label="tutorial", alpha=0.6)
    a2.set_xticks(list(x), names, rotation=20)
    a2.set_title("Model loading memory (GiB)")
    a2.legend(fontsize=7)
    return fig


def eval_figure(plt, findings: list[Finding]):
    rows = [v for v in findings if v.step == "eval" and not v.id.endswith("exit_code")
            and isinstance(v.measured, (int, float)) and isinstance(v.expected, (int, float))]
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
    curves = {label: r.step("distill").record for label, r in (("baseline", baseline), ("this run", run))
              if r is not None and r.step("distill").record is not None}
    if curves:
        images.append(_png(loss_figure(plt, curves)))
    if run.step("bench").record is not None:
        images.append(_png(bench_figure(plt, run.step("bench").record, goldens, run.context.gpu_model)))
    if any(v.step == "eval" for v in findings):
        images.append(_png(eval_figure(plt, findings)))
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
