# distill (tiny tier): the tutorial's §3 command (script name corrected) for 40 iterations on one GPU,
# on the tokenized tiny corpus (local: ${RUN_DIR}/data/tokenized_tiny, made by data.sh). Seed 1234 either way:
# distill.py hard-codes SEED = 1234 at 0.44.0 (L59) and --seed defaults to 1234 from 0.45.0; the flag is not
# passed because 0.44.0 lacks it.
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
