# prune (tiny tier): the tutorial's §2 command, scaled to one GPU and the tiny teacher (2.94M parameters -> 2.5M).
# Hermetic: it runs in ${RUN_DIR}/data (recipes/profiles/tiny.yaml), where data.sh put its two inputs.
# - Calibration on the kit's corpus, --calib_dataset_name calib.jsonl (default: the Hub's
#   nemotron-post-training-dataset-v2). A local .jsonl is read by modelopt/torch/utils/dataset_utils.py
#   get_dataset_samples at 0.44.0 ("text" field) and 0.45.0+ (HF json loader). The path is relative on purpose: at
#   0.44.0 the name also becomes a Megatron-Bridge dataset directory, NEMO_DATASETS_CACHE/<name>_<calib_num_samples>
#   (modelopt/torch/utils/plugins/mbridge.py _get_dataset_cfg; Megatron-Bridge 0.3.0 data/datasets/sft.py
#   get_dataset_root), which for an absolute name is a directory beside the file.
# - The NAS score (--prune_score_func, MMLU) calls datasets.load_dataset("cais/mmlu", "all", split="test") at every
#   ModelOpt ref (modelopt/torch/utils/plugins/megatron_mmlu.py; prune_minitron.py passes no other name). `datasets`
#   loads a local directory of that name before it asks the Hub, so ./cais/mmlu is what it scores on.
# - No seed flag exists at 0.44.0; prune_minitron.py initialises Megatron with seed 0 (mbridge.py L109).
torchrun --nproc_per_node 1 /opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py \
--pp_size 1 \
--hf_model_name_or_path ${TINY_TEACHER} \
--prune_target_params 2.5e6 \
--hparams_to_skip num_attention_heads \
--seq_length 256 \
--calib_dataset_name calib.jsonl \
--calib_num_samples 32 \
--output_hf_path ${PRUNED_HF}
