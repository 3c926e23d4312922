# quantize (prune-quant-bench tier): the tutorial's §5 command with its checkpoint paths pointed at the
# official 9B and at the pruned, undistilled 7B (this tier skips distillation).
python /opt/Model-Optimizer/examples/llm_ptq/hf_ptq.py \
--pyt_ckpt_path ${SOURCE_CKPT} \
--export_path ${RUN_DIR}/quantize/${VARIANT}/hf_fp8 \
--qformat fp8 \
--trust_remote_code
