"""Test double: the image has Model-Optimizer installed; here this stub makes `modelopt` importable, so the kit's
RUNNER=local preflight (scripts/kitlib/needs.py) finds what `python -m modelopt...` needs. The doubles of the GPU
tools never import it. On PYTHONPATH only in tests (tests/kit_env.py)."""
