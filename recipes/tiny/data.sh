# data (tiny tier): a small random NemotronH teacher (pattern M-M*-M-, seed 1234) with a BPE tokenizer trained on the
# corpus the kit ships, then that corpus tokenized with the tutorial's data-prep tool (MEGATRON_DATA_PREP.md), then
# the local inputs prune reads from ${RUN_DIR}/data (its working directory; see prune.sh): calib.jsonl, the corpus
# as its calibration set, and cais/mmlu/, the kit's MMLU-shaped stand-in (recipes/tiny/mmlu/) for its NAS score.
# placeholder ${TINY_TEACHER} = the tiny teacher's directory
python3 scripts/tiny_model.py --out ${TINY_TEACHER} --seed 1234
cd ${RUN_DIR}/data
python -m modelopt.torch.utils.plugins.megatron_preprocess_data \
  --jsonl_paths ${KIT_ROOT}/recipes/tiny/corpus.jsonl \
  --json_keys text \
  --tokenizer ${TINY_TEACHER} \
  --output_dir tokenized_tiny \
  --workers 2 \
  --append_eod
cp ${KIT_ROOT}/recipes/tiny/corpus.jsonl calib.jsonl
rm -rf cais/mmlu && mkdir -p cais && cp -r ${KIT_ROOT}/recipes/tiny/mmlu cais/mmlu
