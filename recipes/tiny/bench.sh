# bench (tiny tier): the tutorial's §6 command with short lengths, on the local checkpoints (random prompts made
# from the checkpoint's own tokenizer), with vLLM's --seed pinned to 0 (its default in docs.vllm.ai's bench pages).
vllm bench throughput \
--model ${CHECKPOINT} \
--random-input-len 128 \
--random-output-len 32 \
--num-prompts 64 \
--max-model-len 512 \
--trust-remote-code \
--mamba_ssm_cache_dtype float32 \
--kv-cache-dtype fp8 \
--load-format safetensors \
--seed 0
