# quantize (aggressive): a kit addition, run with BENCH_EXTRA=1. Tutorial §5: "For a faster model at the cost of a
# larger accuracy drop, you can use mtq.MAMBA_MOE_FP8_AGGRESSIVE_CFG instead". Its table's 7B-FP8 figures (7.8 GiB,
# 1,147 output tokens/s) were measured on this layout: the tutorial's §5 command, with the README's 0.44.0 export name.
# placeholder ${DISTILL_OUT} = <output_dir>
python /opt/Model-Optimizer/examples/llm_ptq/hf_ptq.py \
--pyt_ckpt_path ${DISTILL_OUT}/checkpoints/hf_iter_12800 \
--export_path ${DISTILL_OUT}/checkpoints/hf_iter_12800_fp8_aggressive \
--qformat fp8 \
--trust_remote_code
