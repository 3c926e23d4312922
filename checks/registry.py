"""The step registry: every step the kit knows, collected from the `STEP` each module of checks/steps/ declares
(checks.stepdef.Step), in run order. The rest of the kit asks here instead of testing a step's name:

    from checks import registry
    registry.get("distill").live          # what watch can judge while the log grows
    registry.judged()                     # ("prune", "distill", ...): goldens sections, `--step` choices, verify

`register(step)` adds one more at run time (a test's toy step); `unregister(name)` removes it."""

from __future__ import annotations

import importlib
import pkgutil
from contextlib import contextmanager

from checks.errors import CheckError
from checks.stepdef import Rule, Step

_STEPS: dict[str, Step] = {}
_FOUND = False


def _discover() -> None:
    """Import every module of checks.steps once and keep the STEP each declares."""
    global _FOUND
    if _FOUND:
        return
    import checks.steps as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        step = getattr(module, "STEP", None)
        if isinstance(step, Step):
            _STEPS.setdefault(step.name, step)
    _FOUND = True


def register(step: Step) -> Step:
    """Add a step (a module of checks/steps does it by declaring STEP). A name already taken is refused."""
    _discover()
    if step.name in _STEPS and _STEPS[step.name] is not step:
        raise CheckError(f"step {step.name!r} is registered twice", expected="one Step per name")
    _STEPS[step.name] = step
    return step


def unregister(name: str) -> None:
    _STEPS.pop(name, None)


@contextmanager
def registered(step: Step):
    """A step registered for the duration of a `with` block (tests)."""
    register(step)
    try:
        yield step
    finally:
        unregister(step.name)


def steps() -> list[Step]:
    """Every step, in run order."""
    _discover()
    return sorted(_STEPS.values(), key=lambda s: (s.order, s.name))


def names() -> tuple[str, ...]:
    """Every step's name, in run order (including steps `checks` does not judge, e.g. data)."""
    return tuple(s.name for s in steps())


def judged() -> tuple[str, ...]:
    """The steps `checks` judges, in run order: goldens sections, `checks --step` choices."""
    return tuple(s.name for s in steps() if s.judged)


def get(name: str) -> Step:
    """The step named `name`; CheckError naming the known ones otherwise."""
    _discover()
    if name not in _STEPS:
        raise CheckError(f"no step named {name!r}", expected=", ".join(names()))
    return _STEPS[name]


def find(name: str) -> Step | None:
    _discover()
    return _STEPS.get(name)


def rules() -> list[tuple[Step, Rule]]:
    """Every Python rule, with its step, in run order."""
    return [(s, r) for s in steps() for r in s.rules]
