# data (tiny tier): a small random NemotronH teacher (pattern M-M*-M-) with a BPE tokenizer trained on the
# corpus the kit ships, then that corpus tokenized with the tutorial's data-prep tool (MEGATRON_DATA_PREP.md).
# placeholder ${TINY_TEACHER} = the tiny teacher's directory
python3 scripts/tiny_model.py --out ${TINY_TEACHER}
cd ${RUN_DIR}/data
python -m modelopt.torch.utils.plugins.megatron_preprocess_data \
  --jsonl_paths ${KIT_ROOT}/recipes/tiny/corpus.jsonl \
  --json_keys text \
  --tokenizer ${TINY_TEACHER} \
  --output_dir tokenized_tiny \
  --workers 2 \
  --append_eod
