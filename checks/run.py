"""`Run.load(run_dir)`: the one reader of a run directory. Everything downstream (judge, diff, bless,
report, watch) takes a Run; nothing else opens the run's files, and nothing is parsed twice.

A Run holds the manifest (or why it could not be read), the context the goldens may be conditioned on,
and, per step, its record (or the error that stopped the parser) and the runner's step.json files.
Steps are loaded on first use and kept."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from checks import logread, rundir, yamlio
from checks.errors import CheckError
from checks.hfckpt import load_hf_checkpoint
from checks.steps import bench, convert, distill, eval_, prune, quantize


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
            log = path.parent / rundir.LOG
            if log.exists() and not log.is_file():  # read or not, the step's log is part of what the runner vouches for
                raise CheckError("step.log is not a file", where=str(log), expected="the step's log, as the runner tees it",
                                 found="a directory" if log.is_dir() else "not a regular file", hint="rerun the step")
            m.doc = doc
        except CheckError as e:
            m.error = e
        return m

    # ------------------------------------------------------------ loaders: one path shape each (the step dir)

    def _log(self, sdir: Path, parser, scan: bool = False):
        log = sdir / rundir.LOG
        src = self.rel(log)
        if scan:
            return parser.parse(logread.scan(log, parser.NEEDLES, parser.BLOCKS, src=src), src)
        return parser.parse(logread.lines(log, src), src)

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
        """A distillation whose log begins with a resume is one run with the attempts it resumed from: they are
        read as one log, earliest first, back to the attempt that started from scratch."""
        rec = self._log(sdir, distill, scan=True)
        if not (rec.segments and rec.segments[0].resumed_from is not None):
            return rec
        chain = [sdir / rundir.LOG]
        for n in sorted((int(p.name) for p in (sdir / rundir.ATTEMPTS).glob("*") if p.name.isdigit()), reverse=True):
            log = sdir / rundir.ATTEMPTS / str(n) / rundir.LOG
            if not log.is_file():
                continue
            chain.insert(0, log)
            first = distill.parse(logread.scan(log, distill.NEEDLES, distill.BLOCKS, src=self.rel(log)), self.rel(log))
            if not (first.segments and first.segments[0].resumed_from is not None):
                break
        if len(chain) == 1:
            rec.errors["resume"] = (f"{self.rel(chain[0])} resumes from iteration {rec.segments[0].resumed_from}, but no "
                                    f"earlier attempt's log is under {self.rel(sdir / rundir.ATTEMPTS)}")
            return rec
        lines = (ln for log in chain for ln in logread.scan(log, distill.NEEDLES, distill.BLOCKS, src=self.rel(log)))
        return distill.parse(lines, self.rel(chain[-1]))

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
            for k in ("completed", "exported_to", "exports", "trouble", "trouble_after_completion"):
                setattr(rec, k, getattr(log, k))
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
                    if f.suffix == ".yml":
                        cfg_path = f.parent / "run_config.yml"
                        cfg = None
                        if cfg_path.exists() and not cfg_path.is_file():
                            raise CheckError("run_config.yml is not a file", where=self.rel(cfg_path),
                                             hint="the launcher writes it beside results.yml; rerun the evaluation")
                        if cfg_path.is_file():  # present: it must name the harness (an empty file is no answer)
                            cfg = yamlio.load(cfg_path, "run_config.yml", aliases=True)
                            cfg = {} if cfg is None else cfg
                        got, harness = eval_.parse_results(text, cfg)
                    else:
                        got, harness = eval_.parse_lm_eval_json(text), "lm-evaluation-harness (results_*.json)"
                except CheckError as e:
                    e.where = e.where or self.rel(f)
                    rec.errors[f"models.{d.name}"] = e.render()
                    continue
                except OSError as e:
                    rec.errors[f"models.{d.name}"] = f"{self.rel(f)} cannot be read: {type(e).__name__}"
                    continue
                scores.update(got)
                for k in got:
                    rec.where[f"models.{d.name}.{k}"] = self.rel(f)
                    rec.harness.setdefault(d.name, {})[k] = harness
            if not files:
                rec.errors[f"models.{d.name}"] = f"no results.yml or results_*.json under {self.rel(d)}"
            rec.models[d.name] = scores
            rec.sources[d.name] = [str(f.relative_to(d)) for f in files]
        return rec

    def _bench(self, sdir: Path) -> bench.BenchRecord:
        rec = bench.BenchRecord()
        for d in sorted(p for p in sdir.iterdir() if p.is_dir() and p.name != rundir.ATTEMPTS):
            try:
                meta = self._meta(d / rundir.META).doc or {}
                repeats = meta.get("repeats", 1)
                repeats = repeats if isinstance(repeats, int) and not isinstance(repeats, bool) and repeats > 0 else 1
                log = d / rundir.LOG
                run = bench.parse(logread.lines(log, self.rel(log)), self.rel(log), repeats)
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

