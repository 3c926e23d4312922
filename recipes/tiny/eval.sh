# eval (tiny tier): a limited lm-evaluation-harness run through vLLM; checks that the pipeline works,
# not what a random model scores.
lm_eval --model vllm \
--model_args pretrained=${CHECKPOINT},max_model_len=512,mamba_ssm_cache_dtype=float32 \
--tasks lambada_openai \
--limit 32 \
--batch_size auto \
--output_path ${EVAL_DIR}/lm_eval
