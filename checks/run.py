"""`Run.load(run_dir)`: the one reader of a run directory. Everything downstream (the engine, diff, bless, the
report, watch, and the runner side's plan) takes a Run; nothing else opens the run's files, and nothing is read
twice: step records, checkpoints and config files are kept once read.

A Run holds the manifest (or why it could not be read), the context the goldens may be conditioned on, and, per
step, its record (or the error that stopped the parser) and the runner's step.json files. Steps are loaded on
first use, by the loader their registry entry names (checks/steps/<step>.py `STEP.load`), which reads through
the Run's readers below (`lines`, `json`, `yaml`, `text`, `checkpoint`); a growing log is followed with `follow`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from checks import logread, registry, rundir, yamlio
from checks.errors import CheckError
from checks.hfckpt import HFCheckpoint, load_hf_checkpoint


@dataclass
class Context:
    """What the goldens may be conditioned on, read from the run's manifest."""

    gpu_model: str | None = None
    world_size: dict[str, int] = field(default_factory=dict)
    deviations: dict[str, set[str]] = field(default_factory=dict)  # step -> ids of the errata/additions applied


def context_from_manifest(manifest: object) -> Context:
    ctx = Context()
    if not isinstance(manifest, dict):
        return ctx
    gpu = manifest.get("gpu")
    if isinstance(gpu, dict) and isinstance(gpu.get("model"), str):
        ctx.gpu_model = gpu["model"]
    steps = manifest.get("steps")
    for unit, info in (steps.items() if isinstance(steps, dict) else ()):
        if not isinstance(info, dict):
            continue
        step = str(unit).split("/", 1)[0]
        ws = info.get("world_size")
        if isinstance(ws, int) and not isinstance(ws, bool):
            ctx.world_size.setdefault(step, ws)
        for d in info.get("deviations") or []:
            if isinstance(d, dict) and isinstance(d.get("id"), str):
                ctx.deviations.setdefault(step, set()).add(d["id"])
    return ctx


@dataclass
class Meta:
    """One step.json the runner wrote (or should have)."""

    path: Path
    rel: str  # relative to the run directory, for messages
    doc: dict | None = None
    error: CheckError | None = None

    @property
    def unit(self) -> str:
        """The unit this step.json records: `distill`, `bench/7b-fp8`."""
        return "/".join(Path(self.rel).parts[:-1])


@dataclass
class StepData:
    name: str
    dir: Path
    present: bool
    record: object | None = None
    error: CheckError | None = None  # the step's output could not be parsed at all
    metas: list[Meta] = field(default_factory=list)

    def command_of(self, unit: str) -> dict | None:
        """The step.json document of one unit (`quantize/conservative`), when it was read."""
        return next((m.doc for m in self.metas if m.unit == unit and m.doc is not None), None)


class Run:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.manifest: dict | None = None
        self.manifest_error: CheckError | None = None
        self.context = Context()
        self._steps: dict[str, StepData] = {}
        self._checkpoints: dict[str, HFCheckpoint | CheckError] = {}
        self._configs: dict[str, dict | None] = {}
        self._followers: dict[str, logread.Follower] = {}

    @classmethod
    def load(cls, path: Path) -> Run:
        """Read the manifest now; steps are read when first asked for. CheckError if PATH is no directory."""
        run = cls(path)
        if not run.path.is_dir():
            raise CheckError(f"not a directory: {run.path}" if run.path.exists() else f"no such directory: {run.path}",
                             expected="a run directory (runs/<id>)", found="a file" if run.path.is_file() else None,
                             hint="pass the run's directory (runs/<id>), not a file in it" if run.path.exists()
                             else "run `make reproduce` or pass an existing runs/<id>")
        run.refresh()
        return run

    def refresh(self) -> None:
        """Read the manifest again and forget the steps read so far (a run that is still running); growing logs
        followed with `follow` keep their place."""
        self.manifest, self.manifest_error, self._steps = None, None, {}
        self._checkpoints.clear()
        self._configs.clear()
        try:
            doc = rundir.read_json(self.path / rundir.MANIFEST, "manifest.json")
            if not isinstance(doc, dict):
                raise CheckError("manifest.json is not an object", where=str(self.path / rundir.MANIFEST),
                                 found=type(doc).__name__, hint="the runner writes it; rerun a step with `make`")
            self.manifest = doc
        except CheckError as e:
            self.manifest_error = e
        self.context = context_from_manifest(self.manifest)

    @property
    def id(self) -> str:
        return str((self.manifest or {}).get("run_id") or self.path.name)

    @property
    def profile(self) -> str | None:
        """The profile the manifest names (a name only: goldens and policies are the kit's, see checks.kitfiles)."""
        p = (self.manifest or {}).get("profile")
        return p if isinstance(p, str) else None

    def rel(self, p: Path) -> str:
        try:
            return str(Path(p).relative_to(self.path))
        except ValueError:
            return str(p)

    def present_steps(self) -> list[str]:
        return [s for s in registry.judged() if rundir.step_dir(self.path, s).is_dir()]

    def step(self, name: str) -> StepData:
        if name not in self._steps:
            self._steps[name] = self._load(name)
        return self._steps[name]

    def _load(self, name: str) -> StepData:
        step = registry.get(name)
        sdir = rundir.step_dir(self.path, name)
        data = StepData(name, sdir, sdir.is_dir())
        if not data.present:
            return data
        data.metas = [self.meta(p) for p in rundir.meta_files(sdir, step.per_variant)]
        try:
            data.record = step.load(self, sdir)
        except CheckError as e:
            data.error = e
        return data

    # ------------------------------------------------------------ readers, for the steps' loaders

    def meta(self, path: Path) -> Meta:
        """A step.json (`path`), read; what is wrong with it in `.error`."""
        m = Meta(path, self.rel(path))
        try:
            doc = rundir.read_json(path, "step.json")
            if not isinstance(doc, dict):
                raise CheckError("step.json is not an object", where=str(path), found=type(doc).__name__)
            log = path.parent / rundir.LOG
            if log.exists() and not log.is_file():  # read or not, the step's log is part of what the runner vouches for
                raise CheckError("step.log is not a file", where=str(log), expected="the step's log, as the runner tees it",
                                 found="a directory" if log.is_dir() else "not a regular file", hint="rerun the step")
            m.doc = doc
        except CheckError as e:
            m.error = e
        return m

    def unit_meta(self, unit: str) -> Meta:
        """The step.json of one unit (`distill`, `bench/7b-fp8`), read now (a running step's changes)."""
        return self.meta(self.path / unit / rundir.META)

    def lines(self, path: Path, scan: tuple | None = None) -> Iterator[logread.Line]:
        """A log's lines, numbered and cleaned, named by their path in the run; `scan` = (needles, blocks): only the
        lines a parser of a large log reads (logread.scan)."""
        src = _nonempty(path, self.rel(path))
        return logread.scan(path, *scan, src=src) if scan else logread.lines(path, src)

    def json(self, path: Path, what: str) -> object:
        return rundir.read_json(path, what)

    def yaml(self, path: Path, what: str) -> object:
        """A YAML file a tool wrote (aliases allowed: not the kit's data)."""
        return yamlio.load(path, what, aliases=True)

    def text(self, path: Path) -> str:
        """A small text file, undecodable bytes replaced; OSError as raised."""
        return Path(path).read_bytes().decode("utf-8", errors="replace")

    def subdirs(self, sdir: Path) -> list[Path]:
        """A step's subdirectories (one per variant or label), failed attempts left out."""
        return sorted(p for p in Path(sdir).iterdir() if p.is_dir() and p.name != rundir.ATTEMPTS)

    def attempts(self, sdir: Path) -> list[Path]:
        """The failed attempts kept under <step>/attempts/N/, latest first."""
        nums = sorted((int(p.name) for p in (Path(sdir) / rundir.ATTEMPTS).glob("*") if p.name.isdigit()), reverse=True)
        return [Path(sdir) / rundir.ATTEMPTS / str(n) for n in nums]

    def _abspath(self, path: Path | str) -> str:
        """A path given relative to the run (`prune/hf`), or one that already starts with the run's path (a loader's
        `sdir / "hf"`), or an absolute one, as an absolute path."""
        p = Path(path)
        if not p.is_absolute() and p.parts[:len(self.path.parts)] != self.path.parts:
            p = self.path / p
        return os.path.abspath(p)

    def checkpoint(self, path: Path | str) -> HFCheckpoint:
        """An HF checkpoint summarised (config.json and safetensors headers), once per path; `path` relative to
        the run or absolute. CheckError when it is missing or broken."""
        key = self._abspath(path)
        if key not in self._checkpoints:
            try:
                self._checkpoints[key] = load_hf_checkpoint(Path(key))
            except CheckError as e:
                self._checkpoints[key] = e
        got = self._checkpoints[key]
        if isinstance(got, CheckError):
            raise got
        return got

    def checkpoint_into(self, path: Path, rec, key: str) -> HFCheckpoint | None:
        """A checkpoint for a record: its summary, or None with why in rec.errors[key]."""
        try:
            ck = self.checkpoint(path)
        except CheckError as e:
            rec.errors[key] = e.render()
            return None
        rec.where.setdefault(key, self.rel(path))
        return ck

    def config(self, path: Path | str) -> dict | None:
        """A checkpoint directory's config.json as data (relative to the run or absolute); None when there is none
        or it is not a JSON object."""
        key = self._abspath(path)
        if key not in self._configs:
            cfg = Path(key) / "config.json"
            try:
                doc = rundir.read_json(cfg, "config.json") if cfg.is_file() else None
            except CheckError:
                doc = None
            self._configs[key] = doc if isinstance(doc, dict) else None
        return self._configs[key]

    def follow(self, unit: str, scan: tuple | None = None) -> logread.Follower:
        """The growing step.log of a unit, read from where the last poll stopped (checks.watch)."""
        if unit not in self._followers:
            log = self.path / unit / rundir.LOG
            needles, blocks = scan if scan else (None, ())
            self._followers[unit] = logread.Follower(log, needles, blocks, src=self.rel(log))
        return self._followers[unit]


def load_path(step_name: str, path: Path):
    """For `checks parse STEP PATH` and the runner's completion check: PATH is a step's log file, a step directory,
    or one variant's directory of a step run per variant. Returns the record."""
    path = Path(path)
    step = registry.get(step_name)
    if not path.exists():
        raise CheckError(f"{path} does not exist", expected=f"the {step_name} step's log file or directory",
                         hint="check the path; runs live under runs/<id>/<step>/")
    if path.is_file():
        if step.parse is None:
            raise CheckError(f"{step_name} is judged from its output directory, not a log", where=str(path),
                             hint=f"pass RUN_DIR/{step_name}")
        return step.parse(logread.lines(path), _nonempty(path, str(path)))
    if path.name == step_name:
        return step.load(Run(path.parent), path)
    if not step.variants:
        raise CheckError(f"not a {step_name} step directory", where=str(path), expected=f"RUN_DIR/{step_name} or its log file",
                         hint="pass the step's directory")
    rec = step.load(Run(path.parent.parent), path.parent)  # one variant: load its step, keep that variant
    setattr(rec, step.variants, {k: v for k, v in getattr(rec, step.variants).items() if k == path.name})
    rec.errors = {k: v for k, v in rec.errors.items() if k == f"{step.variants}.{path.name}"}
    return rec


def _nonempty(log: Path, src: str) -> str:
    """An empty log is its own error, not "format not recognised": there is nothing to recognise."""
    if log.is_file() and log.stat().st_size == 0:
        raise CheckError("log file is empty", where=src, expected="the step's combined output, as the runner tees it",
                         found="0 bytes", hint="the step printed nothing or its log was lost: rerun the step")
    return src


def asdict(record: object) -> dict:
    return dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)
