# distill (tiny tier): the tutorial's §3 command (script name corrected) for 40 iterations on one GPU,
# on the tokenized tiny corpus.
torchrun --nproc_per_node 1 /opt/Model-Optimizer/examples/megatron_bridge/distill.py \
--teacher_hf_path ${TINY_TEACHER} \
--student_hf_path ${PRUNED_HF} \
--tp_size 1 \
--pp_size 1 \
--data_paths 1.0 tokenized_tiny/corpus_text \
--data_path_to_cache ${RUN_DIR}/data/cache \
--seq_length 256 \
--mbs 2 \
--gbs 8 \
--train_iters 40 \
--lr 1e-4 \
--min_lr 1e-5 \
--lr_warmup_iters 5 \
--eval_interval 20 \
--eval_iters 2 \
--log_interval 5 \
--output_dir ${DISTILL_OUT}
