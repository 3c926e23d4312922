# prune (tiny tier): the tutorial's §2 command, scaled to one GPU and the tiny teacher (2.94M parameters -> 2.5M).
torchrun --nproc_per_node 1 /opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py \
--pp_size 1 \
--hf_model_name_or_path ${TINY_TEACHER} \
--prune_target_params 2.5e6 \
--hparams_to_skip num_attention_heads \
--seq_length 256 \
--calib_num_samples 32 \
--output_hf_path ${PRUNED_HF}
