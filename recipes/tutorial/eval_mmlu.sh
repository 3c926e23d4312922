# eval (MMLU): a kit addition. The tutorial's table reports MMLU from lm-evaluation-harness, 5-shot,
# metric `mmlu`, but gives no command; this is the harness's standard invocation through vLLM
# (installed beside vLLM in the image), with the tutorial's vLLM settings for this model.
lm_eval --model vllm \
--model_args pretrained=${CHECKPOINT},trust_remote_code=True,mamba_ssm_cache_dtype=float32,max_model_len=8192 \
--tasks mmlu \
--num_fewshot 5 \
--batch_size auto \
--output_path ${EVAL_DIR}/lm_eval
