"""Rules of the whole run, read from its manifest: written by the kit's runner, one object per step, the GPU model
known where absolute figures are judged, one version of each component, and each step's errata chosen for the
versions it really ran with. Pure: a loaded Run (and the goldens) in, findings out."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from checks.findings import ERROR, PASS, Finding
from checks.stepdef import Rule
from checks.goldens import Goldens
from checks.run import Run

MANIFEST_KEYS = {"schema": int, "run_id": str, "profile": str, "steps": dict}
COMPONENTS = ("modelopt", "vllm", "megatron_bridge", "torch", "transformers")


def provenance(run: Run, goldens: Goldens) -> list[Finding]:
    """Every rule of the run's manifest (RULES, below), in order; none when the manifest is unreadable (the engine
    reports that itself)."""
    if run.manifest is None:
        return []
    return [f for rule in RULES for f in rule.check(run, goldens)]


def _written_by_the_runner(run: Run, goldens: Goldens) -> list[Finding]:
    m = run.manifest
    wrong = [k for k, t in MANIFEST_KEYS.items() if not isinstance(m.get(k), t) or isinstance(m.get(k), bool)]
    f = Finding("run", "provenance_manifest", PASS if not wrong else ERROR, expected="the runner's manifest",
                source="scripts/kitlib/manifest.py writes schema, run_id, profile, steps", where="manifest.json")
    if wrong:
        f.note = f"manifest.json lacks or mistypes {', '.join(wrong)}: not written by the kit's runner"
    return [f]


def _steps_readable(run: Run, goldens: Goldens) -> list[Finding]:
    m = run.manifest
    steps = m.get("steps") if isinstance(m.get("steps"), dict) else {}
    odd = [str(u) for u, info in steps.items() if not isinstance(info, dict) or not (
        isinstance(info.get("deviations", []), list) and all(isinstance(d, dict) for d in info.get("deviations", [])))]
    if not odd:
        return []
    return [Finding("run", "provenance_steps", ERROR, expected="one object per step, deviations a list of objects",
                    measured=", ".join(odd), where="manifest.json", source="scripts/kitlib/manifest.py record_step",
                    note=f"manifest.json steps {', '.join(odd)} are not what the runner writes: the errata and "
                         "world sizes the goldens depend on cannot be read; rerun those steps with `make`")]


def _gpu_model(run: Run, goldens: Goldens) -> list[Finding]:
    if not any(g.by_gpu is not None for gs in goldens.steps.values() for g in gs):
        return []
    f = Finding("run", "provenance_gpu_model", PASS if run.context.gpu_model else ERROR,
                expected="gpu.model in manifest.json", measured=run.context.gpu_model, where="manifest.json",
                source="the probe records nvidia-smi's GPU name for every step")
    if not run.context.gpu_model:
        f.note = "the GPU model is unknown, so no absolute figure can be judged; rerun a step under the kit's runner"
    return [f]


def _one_stack(run: Run, goldens: Goldens) -> list[Finding]:
    m = run.manifest
    mixed = m.get("mixed_versions") if isinstance(m.get("mixed_versions"), dict) else {}
    key = {k: v for k, v in mixed.items() if k in COMPONENTS}
    f = Finding("run", "provenance_one_stack", ERROR if key else PASS, expected="one version of each component",
                measured=key or None, where="manifest.json", source="manifest.json versions per step (the probe)")
    if key:
        f.note = "steps of this run ran under different versions: " + "; ".join(f"{k}: {', '.join(map(str, v))}"
                                                                              for k, v in key.items())
    return [f]


def _same_release(a: str, b: str) -> bool:
    try:
        return Version(a).base_version == Version(b).base_version
    except InvalidVersion:
        return a == b


def _dict(x: object, key: str) -> dict:
    v = x.get(key) if isinstance(x, dict) else None
    return v if isinstance(v, dict) else {}


def _rendered_for(run: Run, goldens: Goldens) -> list[Finding]:
    """The errata of a step were chosen for the component versions the kit was told (MODELOPT_REF...); the probe
    records what the step really ran with. A mismatch means the wrong expression of an erratum may have run."""
    out = []
    for unit, info in _dict(run.manifest, "steps").items():
        told, ran = _dict(info, "versions_rendered_for"), _dict(_dict(info, "env"), "versions")
        for comp in ("modelopt", "vllm", "megatron_bridge"):
            a, b = told.get(comp), ran.get(comp)
            if isinstance(a, str) and isinstance(b, str) and not _same_release(a, b):
                out.append(Finding(str(unit).split("/", 1)[0], f"provenance_{comp}_as_rendered", ERROR, expected=a,
                                   measured=b, where="manifest.json", source="step.json versions_rendered_for vs the probe",
                                   note=f"{unit}'s errata were chosen for {comp} {a}, but it ran with {b}: rerun it with "
                                        f"MODELOPT_REF/MODELOPT_VERSION (or versions.env) telling the truth"))
    return out


RULES = (
    Rule("provenance_manifest", _written_by_the_runner, "scripts/kitlib/manifest.py",
         "manifest.json has the schema, run_id, profile and steps the runner writes", completeness=True),
    Rule("provenance_steps", _steps_readable, "scripts/kitlib/manifest.py record_step",
         "each step of the manifest is an object, its deviations a list of objects", completeness=True),
    Rule("provenance_gpu_model", _gpu_model, "the probe (nvidia-smi)",
         "the GPU model is known when the goldens hold absolute figures", completeness=True),
    Rule("provenance_one_stack", _one_stack, "manifest.json versions per step",
         "every step ran with one version of ModelOpt, vLLM, Megatron-Bridge, torch, transformers", completeness=True),
    Rule("provenance_<component>_as_rendered", _rendered_for, "step.json versions_rendered_for vs the probe",
         "each step's errata were chosen for the versions it ran with", completeness=True),
)
