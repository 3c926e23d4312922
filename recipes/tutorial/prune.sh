# prune: tutorial §2 "Pruning", 9B -> 7B. Run on 1 node with 8x H100 (~1 hour).
# Below: the tutorial's command, character for character; only its placeholders are variables.
# placeholder ${PRUNED_HF} = /path/to/Nemotron-Nano-9B-v2-Pruned-7B
torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py \
--pp_size 8 \
--hf_model_name_or_path nvidia/NVIDIA-Nemotron-Nano-9B-v2 \
--trust_remote_code \
--prune_target_params 7e9 \
--hparams_to_skip num_attention_heads \
--seq_length 8192 \
--output_hf_path ${PRUNED_HF}
