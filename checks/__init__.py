"""Judge a run of the Nemotron-Nano-9B-v2 prune/distill/quantize/bench tutorial against golden values.

Data flows one way: run directory -> step parsers (pure) -> comparison engine -> reporters.
"""

__version__ = "0.1.0"
