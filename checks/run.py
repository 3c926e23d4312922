"""`Run.load(run_dir)`: the one reader of a run directory. Everything downstream (judge, diff, bless,
report, watch) takes a Run; nothing else opens the run's files, and nothing is parsed twice.

A Run holds the manifest (or why it could not be read), the context the goldens may be conditioned on,
and, per step, its record (or the error that stopped the parser) and the runner's step.json files.
Steps are loaded on first use and kept."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from checks import logread, rundir
from checks.errors import CheckError
from checks.hfckpt import load_hf_checkpoint
from checks.steps import bench, convert, distill, eval_, prune, quantize


@dataclass
class Context:
    """What the goldens may be conditioned on, read from the run's manifest."""

    gpu_model: str | None = None
    world_size: dict[str, int] = field(default_factory=dict)


def context_from_manifest(manifest: object) -> Context:
    ctx = Context()
    if not isinstance(manifest, dict):
        return ctx
    gpu = manifest.get("gpu")
    if isinstance(gpu, dict) and isinstance(gpu.get("model"), str):
        ctx.gpu_model = gpu["model"]
    steps = manifest.get("steps")
    for step, info in (steps.items() if isinstance(steps, dict) else ()):
        ws = info.get("world_size") if isinstance(info, dict) else None
        if isinstance(ws, int) and not isinstance(ws, bool):
            ctx.world_size[step] = ws
    return ctx


@dataclass
class Meta:
    """One step.json the runner wrote (or should have)."""

    path: Path
    rel: str  # relative to the run directory, for messages
    doc: dict | None = None
    error: CheckError | None = None


@dataclass
class StepData:
    name: str
    dir: Path
    present: bool
    record: object | None = None
    error: CheckError | None = None  # the step's output could not be parsed at all
    metas: list[Meta] = field(default_factory=list)


class Run:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.manifest: dict | None = None
        self.manifest_error: CheckError | None = None
        self.context = Context()
        self._steps: dict[str, StepData] = {}

    @classmethod
    def load(cls, path: Path) -> Run:
        """Read the manifest now; steps are read when first asked for. CheckError if PATH is no directory."""
        run = cls(path)
        if not run.path.is_dir():
            raise CheckError(f"no such directory: {run.path}", expected="a run directory (runs/<id>)",
                             hint="run `make reproduce` or pass an existing runs/<id>")
        try:
            doc = rundir.read_json(run.path / rundir.MANIFEST, "manifest.json")
            if not isinstance(doc, dict):
                raise CheckError("manifest.json is not an object", where=str(run.path / rundir.MANIFEST),
                                 found=type(doc).__name__, hint="the runner writes it; rerun a step with `make`")
            run.manifest = doc
        except CheckError as e:
            run.manifest_error = e
        run.context = context_from_manifest(run.manifest)
        return run

    @property
    def id(self) -> str:
        return str((self.manifest or {}).get("run_id") or self.path.name)

    def rel(self, p: Path) -> str:
        try:
            return str(Path(p).relative_to(self.path))
        except ValueError:
            return str(p)

    def present_steps(self) -> list[str]:
        return [s for s in rundir.STEPS if rundir.step_dir(self.path, s).is_dir()]

    def step(self, name: str) -> StepData:
        if name not in self._steps:
            self._steps[name] = self._load(name)
        return self._steps[name]

    def _load(self, name: str) -> StepData:
        sdir = rundir.step_dir(self.path, name)
        data = StepData(name, sdir, sdir.is_dir())
        if not data.present:
            return data
        data.metas = [self._meta(p) for p in rundir.meta_files(name, sdir)]
        try:
            data.record = LOADERS[name](self, sdir)
        except CheckError as e:
            data.error = e
        return data

    def _meta(self, path: Path) -> Meta:
        m = Meta(path, self.rel(path))
        try:
            doc = rundir.read_json(path, "step.json")
            if not isinstance(doc, dict):
                raise CheckError("step.json is not an object", where=str(path), found=type(doc).__name__)
            m.doc = doc
        except CheckError as e:
            m.error = e
        return m

    # ------------------------------------------------------------ loaders: one path shape each (the step dir)

    def _log(self, sdir: Path, parser, scan: bool = False):
        log = sdir / rundir.LOG
        src = self.rel(log)
        if scan:
            return parser.parse(logread.scan(log, parser.NEEDLES, parser.BLOCKS), src)
        return parser.parse(logread.lines(log), src)

    def _checkpoint(self, path: Path, rec, key: str):
        """Summarise an HF checkpoint into rec.<key>; a broken one becomes rec.errors[key]."""
        try:
            ck = load_hf_checkpoint(path)
        except CheckError as e:
            rec.errors[key] = e.render()
            return None
        rec.where.setdefault(key, self.rel(path))
        return ck

    def _prune(self, sdir: Path) -> prune.PruneRecord:
        rec = self._log(sdir, prune)
        rec.checkpoint = self._checkpoint(sdir / rundir.PRUNE_CKPT, rec, "checkpoint")
        if rec.checkpoint is not None and rec.pruned_pattern is None:
            rec.pruned_pattern = rec.checkpoint.hybrid_override_pattern
            rec.where["pruned_pattern"] = self.rel(sdir / rundir.PRUNE_CKPT / "config.json")
        return rec

    def _distill(self, sdir: Path) -> distill.DistillRecord:
        return self._log(sdir, distill, scan=True)

    def _convert(self, sdir: Path) -> convert.ConvertRecord:
        rec = convert.ConvertRecord()
        dirs = [p for p in sorted(sdir.iterdir()) if convert.DIR.match(p.name)]
        for d in dirs:
            ck = self._checkpoint(d, rec, f"checkpoints.{d.name}")
            if ck is not None:
                rec.checkpoints[d.name] = ck
        if not dirs:
            rec.errors["checkpoints"] = f"no hf_iter_<N> directory in {sdir}"
        return rec

    def _quantize(self, sdir: Path) -> quantize.QuantizeRecord:
        if not (sdir / rundir.QUANT_CKPT).exists() and not (sdir / rundir.LOG).exists() and rundir.variant_dirs(sdir):
            rec = quantize.QuantizeRecord()
            for d in rundir.variant_dirs(sdir):
                rec.variants[d.name] = self._quantize_one(d)
                rec.where.update({f"variants.{d.name}.{k}": v for k, v in rec.variants[d.name].where.items()})
            return rec
        return self._quantize_one(sdir)

    def _quantize_one(self, d: Path) -> quantize.QuantizeRecord:
        tmp = quantize.QuantizeRecord()
        ck = self._checkpoint(d / rundir.QUANT_CKPT, tmp, "checkpoint")
        rec = quantize.from_checkpoint(ck) if ck is not None else tmp
        if ck is not None:
            for k in ("quant_algo", "layout", "checkpoint_bytes", "fp8_fraction", "has_tokenizer", "exclude_modules",
                      "producer", "checkpoint"):
                rec.where[k] = self.rel(d / rundir.QUANT_CKPT)
        if (d / rundir.LOG).exists():
            log = self._log(d, quantize)
            rec.completed, rec.exported_to = log.completed, log.exported_to
            rec.where.update(log.where)
        return rec

    def _eval(self, sdir: Path) -> eval_.EvalRecord:
        rec = eval_.EvalRecord()
        for d in sorted(p for p in sdir.iterdir() if p.is_dir() and p.name != rundir.ATTEMPTS):
            scores: dict[str, float] = {}
            files = sorted(d.rglob("results.yml")) + sorted(d.rglob("results_*.json"))
            for f in files:
                try:
                    text = f.read_bytes().decode("utf-8", errors="replace")
                    got = eval_.parse_results_yml(text) if f.suffix == ".yml" else eval_.parse_lm_eval_json(text)
                except CheckError as e:
                    e.where = self.rel(f)
                    rec.errors[f"models.{d.name}"] = e.render()
                    continue
                except OSError as e:
                    rec.errors[f"models.{d.name}"] = f"{self.rel(f)} cannot be read: {type(e).__name__}"
                    continue
                scores.update(got)
                for k in got:
                    rec.where[f"models.{d.name}.{k}"] = self.rel(f)
            if not files:
                rec.errors[f"models.{d.name}"] = f"no results.yml or results_*.json under {self.rel(d)}"
            rec.models[d.name] = scores
            rec.sources[d.name] = [str(f.relative_to(d)) for f in files]
        return rec

    def _bench(self, sdir: Path) -> bench.BenchRecord:
        rec = bench.BenchRecord()
        for d in sorted(p for p in sdir.iterdir() if p.is_dir() and p.name != rundir.ATTEMPTS):
            try:
                run = self._log(d, bench)
                if (d / rundir.BENCH_JSON).exists():
                    bench.apply_json(run, rundir.read_json(d / rundir.BENCH_JSON, "bench result.json"))
                rec.runs[d.name] = run
                rec.where.update({f"runs.{d.name}.{k}": v for k, v in run.where.items()})
            except CheckError as e:
                rec.errors[f"runs.{d.name}"] = e.render()
        return rec


LOADERS = {"prune": Run._prune, "distill": Run._distill, "convert": Run._convert, "eval": Run._eval,
           "quantize": Run._quantize, "bench": Run._bench}


def load_path(step: str, path: Path):
    """For `checks parse STEP PATH` only: PATH is a step's log file, a step directory, or (eval, bench,
    quantize) one variant's directory. Returns the record."""
    path = Path(path)
    if not path.exists():
        raise CheckError(f"{path} does not exist", expected=f"the {step} step's log file or directory",
                         hint="check the path; runs live under runs/<id>/<step>/")
    run = Run(path.parent if path.is_file() or path.name != step else path.parent)
    if path.is_file():
        if step in ("convert", "eval"):
            raise CheckError(f"{step} is judged from its output directory, not a log", where=str(path),
                             hint=f"pass RUN_DIR/{step}")
        module = {"prune": prune, "distill": distill, "quantize": quantize, "bench": bench}[step]
        return module.parse(logread.lines(path), str(path))
    if path.name == step:
        return LOADERS[step](run, path)
    # one variant directory of eval/bench/quantize: load its parent step, keep that variant
    parent = Run(path.parent.parent)
    if step in ("eval", "bench"):
        rec = LOADERS[step](parent, path.parent)
        keep = "models" if step == "eval" else "runs"
        setattr(rec, keep, {k: v for k, v in getattr(rec, keep).items() if k == path.name})
        rec.errors = {k: v for k, v in rec.errors.items() if k == f"{keep}.{path.name}"}
        return rec
    raise CheckError(f"not a {step} step directory", where=str(path), expected=f"RUN_DIR/{step} or its log file",
                     hint="pass the step's directory")


def asdict(record: object) -> dict:
    return dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)

