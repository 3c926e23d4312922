"""`make regress BASELINE=runs/<id>`: the baseline must be a finished, clean run of the same profile, or the
comparison means nothing (a failed run as the baseline hides every regression behind its own failure)."""

from __future__ import annotations

from pathlib import Path

from checks import rundir
from checks.errors import CheckError
from kitlib.profile import Unit


def problems(path: Path, profile: str, units: list[Unit]) -> list[str]:
    """Why `path` cannot be the baseline of a regression run of `profile` (empty: it can)."""
    path = Path(path)
    if not path.is_dir():
        return [f"BASELINE={path} is {'a file' if path.exists() else 'not there'}: expected a run directory (runs/<id>)"]
    try:
        manifest = rundir.read_json(path / rundir.MANIFEST, "manifest.json")
    except CheckError as e:
        return [f"BASELINE={path} is not a run directory: {e.what} ({e.found or e.where})"]
    if not isinstance(manifest, dict):
        return [f"BASELINE={path}: manifest.json is not an object"]
    if manifest.get("profile") != profile:
        return [f"BASELINE={path} is a run of PROFILE={manifest.get('profile')}, not PROFILE={profile}: their steps "
                "and goldens differ"]
    found = []
    for u in units:
        if u.group == "extra":
            continue
        sdir = path / u.name
        if not (sdir / rundir.STAMP).exists():
            code = _exit_code(sdir)
            found.append(f"step {u.name} of BASELINE={path} never finished"
                         + (f" (it exited {code}; {sdir / rundir.LOG})" if code not in (None, 0) else
                            " (no stamp: it did not run, or did not complete)"))
    if found:
        return found
    from checks import goldens, kitfiles
    from checks.bless import refuse_incomplete
    from checks.engine import evaluate
    from checks.run import Run

    try:
        g = goldens.load(kitfiles.goldens_file(profile))
        refuse_incomplete(evaluate(g, Run.load(path)), g)
    except CheckError as e:
        return [f"BASELINE={path} is not a complete, clean run: {e.found or e.what}"]
    return []


def _exit_code(sdir: Path):
    try:
        doc = rundir.read_json(sdir / rundir.META, "step.json")
    except CheckError:
        return None
    return doc.get("exit_code") if isinstance(doc, dict) else None
