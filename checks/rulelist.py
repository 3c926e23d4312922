"""`checks list-rules`: every rule the kit judges a run by, where it lives and where its truth comes from.

Data rules: each golden (expected/<profile>.yaml), each lineage rule (their `lineage:` section), each tolerance of
`checks diff` (their `diff:` section), each profile's completion rule (recipes/profiles/<profile>.yaml `completion:`,
applied by the runner before it stamps a step) and each profile's watch policy (`watch:`). Python rules: those the
steps register (checks/steps/<step>.py `STEP.rules`), the run's provenance rules (checks.provenance.RULES), and
the engine's own (exit codes, unparseable output, missing goldens or output, nothing checked)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from checks import engine, goldens, judge, kitfiles, provenance, registry, yamlio
from checks.stepdef import Rule
from checks.values import describe


@dataclass
class Row:
    kind: str  # golden | lineage | diff | completion | watch | rule | provenance | engine
    step: str
    id: str
    where: str  # file:line
    source: str
    what: str = ""


def _golden_rows(g: goldens.Goldens) -> list[Row]:
    rows = []
    for gs in g.steps.values():
        for x in gs:
            what = x.path or (f"{x.ratio[0]} / {x.ratio[1]}" if x.ratio else f"mean of {', '.join(x.mean_of)}")
            rows.append(Row("golden", x.step, x.id, x.where, x.source, f"{what} ({describe(x.tol, x.expect)})"
                            + (f"; xfail: {x.xfail}" if x.xfail else "")))
    rows += [Row("lineage", (r.unit or r.output).split("/", 1)[0], r.id, r.where, r.source,
                 f"{r.unit or r.output}: " + ", ".join(f"{k}={getattr(r, k)}" for k in (
                     "flag", "echoed", "names", "names_model", "only_flags", "differs_from", "architecture_of",
                     "bf16_same_as") if getattr(r, k))) for r in g.lineage]
    rows += [Row("diff", k.split(".", 1)[0] if "." in k else "run", k, g.file, "goldens `diff:`", describe(t))
             for k, t in g.diff.items()]
    return rows


def _profile_rows(name: str) -> list[Row]:
    doc = yamlio.load(kitfiles.profile_file(name), "profile")
    rows = []
    for step, spec in (doc.get("steps") or {}).items():
        if isinstance(spec, dict) and spec.get("completion"):
            rows.append(Row("completion", str(step), f"{name}: completion", spec.where("completion"),
                            f"recipes/profiles/{name}.yaml",
                            ", ".join(f"{k} = {v}" for k, v in spec["completion"].items())
                            + " (the runner stamps the step only then)"))
    if "watch" in doc:
        rows.append(Row("watch", "run", f"{name}: watch policy", doc.where("watch"), f"recipes/profiles/{name}.yaml",
                        ", ".join(f"{k}: {v}" for k, v in doc["watch"].items())))
    return rows


def _where(fn) -> str:
    return Rule("", fn, "").where


def _code_rows() -> list[Row]:
    rows = [Row("rule", s.name, ("<variant>_" if r.per_variant else "") + r.id, r.where, r.source,
                r.what + (" [completeness: bless refuses a run failing it]" if r.completeness else "")
                + (" [also judged live by checks watch]" if r.live else "")) for s, r in registry.rules()]
    rows += [Row("provenance", "run", r.id, r.where, r.source, r.what) for r in provenance.RULES]
    rows += [Row("engine", "<step>", "[<variant>_]exit_code", _where(judge.exit_codes), "runner (step.json)",
                 "each step.json exists, is readable and says exit code 0"),
             Row("engine", "<step>", "parse | log_format", _where(judge.parse_error), "the step's parser",
                 "the step's output parses (a log in no known format is log_format)"),
             Row("engine", "<step>", "goldens | output", _where(engine.evaluate), "the goldens file and the run",
                 "a judged step has goldens and an output directory; something was checked (coverage)")]
    return rows


def rows(files: list[Path] | None = None) -> list[Row]:
    """Every rule: the goldens files given (default: all of the kit's), every profile's, and the code's."""
    out: list[Row] = []
    seen: set[tuple[str, str, str]] = set()
    for f in files or sorted(kitfiles.EXPECTED.glob("*.yaml")):
        for r in _golden_rows(goldens.load(f)):
            if (r.kind, r.id, r.where) not in seen:  # an included check is listed once, at its own file:line
                seen.add((r.kind, r.id, r.where))
                out.append(r)
    for name in kitfiles.profiles():
        out += _profile_rows(name)
    return out + _code_rows()


def show(rows: list[Row], console) -> None:
    """One plain line per rule (never wrapped), grouped by kind, then the counts."""
    lines = [f"{r.kind:<10} {r.step}.{r.id}  at {r.where}  source: {r.source}" + (f"\n           {r.what}" if r.what else "")
             for r in rows]
    counts = {}
    for r in rows:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    lines.append(", ".join(f"{n} {k}" for k, n in counts.items()))
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)

