"""The watch policy (`watch:` in recipes/profiles/<name>.yaml, validated by `policy_from`): when `checks watch` says
stop. `stop` is set on the first NaN (`stop_on_nan`), on a FAIL (`stop_on_failed_check`), or when even the lower
end of the projected step time's interval is more than `max_projected_overrun_pct` over the expected, after
`after_iterations` (an iteration count, or a fraction of train_iters). Also the profile's plan of each unit (hours,
world size), which the projection and the run's GPU-hours are measured against."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from checks import kitfiles, yamlio
from checks.errors import CheckError
from checks.values import is_number

# ---------------------------------------------------------------- policy

POLICY_KEYS = ("every_s", "after_iterations", "max_projected_overrun_pct", "stop_on_nan", "stop_on_failed_check",
               "loss_window", "max_loss_rise_pct", "confidence")


@dataclass(frozen=True)
class Policy:
    every_s: float = 30.0  # how often the runner's watcher re-reads the log
    after_iterations: float = 0.05  # an iteration count (int), or a fraction (0 < x < 1) of train_iters
    max_projected_overrun_pct: float | None = None  # None: project, never stop on time
    stop_on_nan: bool = True
    stop_on_failed_check: bool = True
    loss_window: int = 0  # logged values per window; 0: no trend check
    max_loss_rise_pct: float = 50.0
    confidence: float = 0.95
    where: str = "built-in defaults"

    def gate(self, train_iters: int | None) -> int:
        """The iteration from which the projection may decide."""
        a = self.after_iterations
        if isinstance(a, float) and 0 < a < 1:
            return math.ceil(a * train_iters) if train_iters else 0
        return int(a)

    def describe(self) -> str:
        parts = [f"after {self.after_iterations:g} iterations" if not (isinstance(self.after_iterations, float)
                                                                        and self.after_iterations < 1)
                 else f"after {self.after_iterations:.0%} of the iterations"]
        if self.max_projected_overrun_pct is not None:
            parts.append(f"stop when projected > +{self.max_projected_overrun_pct:g} %")
        if self.stop_on_nan:
            parts.append("stop on NaN")
        if self.stop_on_failed_check:
            parts.append("stop on a failed check")
        return f"{', '.join(parts)} ({self.where})"


# Each key of a policy: its types, whether a value is in range, and the range as the error says it.
_RULES = {
    "every_s": ((int, float), lambda v: v > 0, "seconds > 0"),
    "max_loss_rise_pct": ((int, float), lambda v: v >= 0, "a percentage >= 0"),
    "max_projected_overrun_pct": ((int, float), lambda v: v >= 0, "a percentage >= 0"),
    "confidence": ((int, float), lambda v: 0.5 <= v < 1, "a probability in [0.5, 1), e.g. 0.95"),
    "after_iterations": ((int, float), lambda v: v >= 0 if isinstance(v, int) else 0 < v < 1,
                         "an iteration count (e.g. 200) or a fraction of train_iters (e.g. 0.05)"),
    "loss_window": (int, lambda v: v >= 0 and v != 1, "logged values per window, >= 2 (or 0: no loss trend check)"),
    "stop_on_nan": (bool, lambda v: True, ""),
    "stop_on_failed_check": (bool, lambda v: True, ""),
}
_AS_FLOAT = ("every_s", "max_loss_rise_pct", "confidence", "max_projected_overrun_pct")


def policy_from(node: object, where: str, what: str = "the `watch:` policy") -> Policy:
    """A policy mapping (the profile's `watch:`), validated: unknown keys, wrong types and values out of range
    are CheckErrors naming file:line."""
    m = yamlio.mapping(node, what, where, allowed=POLICY_KEYS)
    out: dict = {}
    for key, (types, ok, expected) in _RULES.items():
        if key not in m:
            continue
        if key == "max_projected_overrun_pct" and m[key] is None:
            out[key] = None  # written as `null`: never stop on time
            continue
        v = yamlio.typed(m, key, types, what)
        if not ok(v):
            raise CheckError(f"`{key}` in {what} is out of range", where=m.where(key), found=repr(m[key]),
                             expected=expected)
        out[key] = float(v) if key in _AS_FLOAT else v
    return Policy(**out, where=m.where() if isinstance(m, yamlio.YMap) else where)


def read_profile(name: str | None) -> yamlio.YMap | None:
    """recipes/profiles/<name>.yaml of the kit as data (kitlib.profile validates the rest of it); None if the kit has
    no such profile."""
    if not name or name not in kitfiles.profiles():
        return None
    doc = yamlio.load(kitfiles.profile_file(name), "profile")
    return doc if isinstance(doc, yamlio.YMap) else None


def profile_policy(doc: yamlio.YMap | None) -> Policy:
    if doc is None or "watch" not in doc:
        return Policy()
    return policy_from(doc["watch"], doc.where("watch"), f"`watch:` of {doc.file}")


def load_policy(spec: str | None, run_profile: str | None) -> Policy:
    """--policy: a YAML file (a profile, a `{watch: ...}` document or the policy mapping itself) or a profile
    name; without it the run's own profile (manifest.json `profile`), else the built-in defaults."""
    if spec is None:
        return profile_policy(read_profile(run_profile))
    path = Path(spec)
    if path.is_file():
        doc = yamlio.load(path, "watch policy")
        if isinstance(doc, dict) and "steps" in doc and "schema" in doc:
            if "watch" not in doc:
                raise CheckError("the profile has no `watch:` section", where=str(path),
                                 hint="add one (see recipes/profiles/full.yaml) or pass another --policy")
            return profile_policy(doc)
        if isinstance(doc, dict) and set(doc) == {"watch"}:
            return policy_from(doc["watch"], doc.where("watch"), f"`watch:` of {path}")
        return policy_from(doc, str(path), f"the policy in {path}")
    doc = read_profile(spec)
    if doc is None:
        known = ", ".join(kitfiles.profiles())
        raise CheckError(f"--policy {spec}: no such file or profile", expected=f"a YAML file, or one of {known}")
    return profile_policy(doc)


# ---------------------------------------------------------------- the profile's plan (hours, world size)


@dataclass
class Planned:
    """One unit of a profile as the plan estimates it (mirrors kitlib.profile.load's expansion)."""

    name: str
    hours: float
    world_size: int
    source: str
    group: str | None = None

    @property
    def gpu_hours(self) -> float:
        return self.hours * self.world_size  # a CPU-only step (0 GPUs) costs no GPU-hours


def planned_units(doc: yamlio.YMap | None) -> dict[str, Planned]:
    out: dict[str, Planned] = {}
    steps = doc.get("steps") if isinstance(doc, dict) else None
    for step, spec in (steps.items() if isinstance(steps, dict) else ()):
        if not isinstance(spec, dict):
            continue
        ws = _int(spec.get("nodes", 1)) * _int(spec.get("gpus_per_node", 0))
        for variant, vspec in (spec.get("variants") or {None: {}}).items():
            vspec = vspec if isinstance(vspec, dict) else {}
            name = f"{step}/{variant}" if variant else step
            hours = vspec.get("hours", spec.get("hours", 0))
            out[name] = Planned(name, float(hours) if is_number(hours) else 0.0, ws,
                                str(vspec.get("hours_source", spec.get("hours_source", ""))), vspec.get("group"))
    return out


def _int(x: object) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else 0
