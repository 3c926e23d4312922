# eval (tiny tier): a limited lm-evaluation-harness run through vLLM on a task and data the kit ships
# (recipes/tiny/eval/: the group tiny_kit holding the task tiny_cloze on tiny_cloze.jsonl, found through
# --include_path; the step runs in that directory, see recipes/profiles/tiny.yaml). It checks that the pipeline
# works, not what a random model scores (the task was run offline with lm-eval 0.4.9.2 and its `dummy` model).
# Seeds: lm-eval's own default, passed explicitly (python random, numpy, torch, fewshot).
lm_eval --model vllm \
--model_args pretrained=${CHECKPOINT},max_model_len=512,mamba_ssm_cache_dtype=float32 \
--tasks tiny_kit \
--include_path ${KIT_ROOT}/recipes/tiny/eval \
--limit 32 \
--batch_size auto \
--seed 0,1234,1234,1234 \
--output_path ${EVAL_DIR}/lm_eval
