# bench: tutorial §6 "vLLM Inference Benchmarking" on a single H100 (ISL=32768, OSL=1024), once per checkpoint.
# Below: the tutorial's command, character for character; only its placeholders are variables.
# placeholder ${CHECKPOINT} = <checkpoint_path>
vllm bench throughput \
--model ${CHECKPOINT} \
--random-input-len 32768 \
--random-output-len 1024 \
--trust-remote-code \
--mamba_ssm_cache_dtype float32 \
--kv-cache-dtype fp8 \
--load-format safetensors
