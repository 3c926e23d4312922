"""Test double: the image has Megatron-Bridge and megatron-core installed; here this stub makes `megatron`
importable, so the kit's RUNNER=local preflight (scripts/kitlib/needs.py) finds what the real distill.py of the
upstream fixtures imports. The doubles of the GPU tools never import it. On PYTHONPATH only in tests
(tests/kit_env.py)."""
