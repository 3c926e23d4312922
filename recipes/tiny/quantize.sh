# quantize (tiny tier): the tutorial's §5 command on the tiny distilled model, with a small calibration on the corpus
# the kit ships (--dataset; the default is Hub data: cnn_dailymail + nemotron-post-training-dataset-v2 at 0.44.0,
# cnn_nemotron_v2_mix from 0.45.0). A local .jsonl with a "text" field is accepted since ModelOpt 0.43.0
# (modelopt/torch/utils/dataset_utils.py get_dataset_samples). hf_ptq.py has no seed flag; it seeds itself
# (RAND_SEED = 1234, examples/llm_ptq/hf_ptq.py L84 at 0.44.0).
python /opt/Model-Optimizer/examples/llm_ptq/hf_ptq.py \
--pyt_ckpt_path ${DISTILL_OUT}/checkpoints/hf_iter_40 \
--export_path ${DISTILL_OUT}/checkpoints/hf_iter_40_fp8 \
--qformat fp8 \
--dataset ${KIT_ROOT}/recipes/tiny/corpus.jsonl \
--calib_size 32 \
--batch_size 4 \
--trust_remote_code
