# convert (tiny tier): the tutorial's §3 conversion of the last iteration (40).
python /opt/Megatron-Bridge/examples/conversion/convert_checkpoints.py export \
--hf-model ${PRUNED_HF} \
--megatron-path ${DISTILL_OUT}/checkpoints/iter_0000040 \
--hf-path ${DISTILL_OUT}/checkpoints/hf_iter_40
