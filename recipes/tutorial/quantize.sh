# quantize: tutorial §5 "Quantization", FP8 PTQ of the iteration-12800 checkpoint (1-2 min on 8x H100).
# Below: the tutorial's command, character for character; only its placeholders are variables.
# The QUANT_CFG_CHOICES["fp8"] edit the tutorial asks for is an erratum (recipes/errata.yaml).
# placeholder ${DISTILL_OUT} = <output_dir>
python /opt/Model-Optimizer/examples/llm_ptq/hf_ptq.py \
--pyt_ckpt_path ${DISTILL_OUT}/checkpoints/hf_iter_12800 \
--export_path ${DISTILL_OUT}/checkpoints/hf_iter_12800_fp8 \
--qformat fp8 \
--trust_remote_code
