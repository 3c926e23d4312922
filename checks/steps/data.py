"""data: tokenizing the tutorial's 12-dataset blend (MEGATRON_DATA_PREP.md). It writes under DATA_ROOT, outside
the run, and has no goldens: the distillation's arguments block and loss say whether its data was right."""

from __future__ import annotations

from checks.stepdef import Kit, PathUse, Step

STEP = Step(
    name="data", order=0, doc="tokenize the data blend (CPU, hours); not judged by `checks`",
    kit=Kit(writes_under="DATA_ROOT", judged=False),
    paths=(PathUse("${DATA_ROOT}/tokenized_nemotron_v2", "writes"),),
)
