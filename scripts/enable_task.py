"""Write a NeMo Evaluator launcher config that runs one task the tutorial's nemo_evaluator.yaml leaves commented
out (at ModelOpt 0.44.0: AA_math_test_500, "Requires JUDGE_API_KEY"), exactly as the comment has it, and nothing
else: the other tasks already ran in the verbatim step.

    python3 scripts/enable_task.py nemo_evaluator.yaml AA_math_test_500 > math500.yaml

Exit 2, saying why, when the config has no such commented task (upstream changed it)."""

import re
import sys

import yaml


def uncomment(text: str, task: str) -> str:
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if re.match(rf"^(\s*)#\s*- name: {re.escape(task)}\s*$", l)), None)
    if start is None:
        raise SystemExit(f"enable_task: no commented-out task {task!r} in the config; upstream changed it: "
                         "update recipes/tutorial/eval_math500.sh")
    indent = re.match(r"^(\s*)#", lines[start]).group(1)
    block = re.compile(rf"^{re.escape(indent)}# ?(.*)$")
    end = start
    while end < len(lines) and (m := block.match(lines[end])) and (end == start or m.group(1).startswith(" ")):
        lines[end] = indent + m.group(1)
        end += 1
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1].startswith("-"):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")  # the usage line
        raise SystemExit(0 if sys.argv[1:2] in (["-h"], ["--help"]) else 2)
    path, task = sys.argv[1:3]
    try:
        text = open(path).read()
    except OSError as e:
        print(f"enable_task: cannot read {path}: {e.strerror}; expected the tutorial's nemo_evaluator.yaml", file=sys.stderr)
        raise SystemExit(2) from None
    doc = yaml.safe_load(uncomment(text, task))
    tasks = [t for t in doc["evaluation"]["tasks"] if isinstance(t, dict) and t.get("name") == task]
    if len(tasks) != 1:
        raise SystemExit(f"enable_task: expected one task {task!r} after uncommenting, found {len(tasks)}")
    doc["evaluation"]["tasks"] = tasks
    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False))


if __name__ == "__main__":
    main()
