"""Judge a run of the Nemotron-Nano-9B-v2 prune/distill/quantize/bench tutorial against golden values.

Data flows one way: run directory -> Run.load (checks.run, the only reader) -> pure step parsers
(checks.steps) -> the judge (checks.judge: record + goldens -> findings) -> renderers (checks.render,
checks.plots)."""

__version__ = "0.1.0"
