"""`checks drift`: what an upstream version will do with the tutorial's commands, read before any GPU time.

- readme: the kit's recipes against the command blocks (and install lines) of the tutorial README at a ref;
- flags: every script a command runs exists in the Model-Optimizer / Megatron-Bridge checkout and accepts every
  flag it passes (argspec reads argparse definitions with `ast`); layout: where a missing script went, and the
  defaults that changed since a baseline checkout;
- imports: every name a script imports from the libraries the image pins exists in those exact versions;
- evalcfg: the evaluator config the eval step launches (tasks, num_repeats, the metric names they produce)
  against the goldens; launcher: the launcher's own `--dry-run` of that config;
- command: the `checks drift` command line, and its gate mode (exit 0: this version will run the tutorial's
  commands)."""

from checks.drift.argspec import argparse_spec
from checks.drift.flags import flags, invocations
from checks.drift.readme import blocks, compare, finding, missing_paths, signature
from checks.drift.command import read_commands

__all__ = ["argparse_spec", "blocks", "compare", "finding", "flags", "invocations", "missing_paths", "read_commands",
           "signature"]
