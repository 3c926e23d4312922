# distill: tutorial §3 "Distillation". Run on 96 nodes x 8x H100 (768 GPUs total).
# Below: the tutorial's command, character for character; only its placeholders are variables.
# The script name and the quoting of DATA_BLEND are errata (recipes/errata.yaml), applied at run time.
# placeholder ${PRUNED_HF} = /path/to/Nemotron-Nano-9B-v2-Pruned-7B
# placeholder ${DATA_CACHE} = /path/to/cache
# placeholder ${DISTILL_OUT} = <output_dir>
torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/megatron_bridge/distill_minitron.py \
--teacher_hf_path nvidia/NVIDIA-Nemotron-Nano-9B-v2 \
--student_hf_path ${PRUNED_HF} \
--trust_remote_code \
--tp_size 8 \
--pp_size 1 \
--data_paths "${DATA_BLEND}" \
--data_path_to_cache ${DATA_CACHE} \
--seq_length 8192 \
--mbs 4 \
--gbs 768 \
--train_iters 16000 \
--lr 1e-4 \
--min_lr 1e-5 \
--lr_warmup_iters 100 \
--eval_interval 400 \
--eval_iters 32 \
--log_interval 10 \
--output_dir ${DISTILL_OUT}
