# quantize (tiny tier): the tutorial's §5 command on the tiny distilled model, with a small calibration.
python /opt/Model-Optimizer/examples/llm_ptq/hf_ptq.py \
--pyt_ckpt_path ${DISTILL_OUT}/checkpoints/hf_iter_40 \
--export_path ${DISTILL_OUT}/checkpoints/hf_iter_40_fp8 \
--qformat fp8 \
--calib_size 32 \
--batch_size 4 \
--trust_remote_code
