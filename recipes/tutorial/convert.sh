# convert: tutorial §3 "Checkpoint conversion" of one distillation iteration to Hugging Face format.
# Below: the tutorial's command, character for character; only its placeholders are variables.
# placeholder ${PRUNED_HF} = /path/to/Nemotron-Nano-9B-v2-Pruned-7B
# placeholder ${DISTILL_OUT} = <output_dir>
# placeholder ${ITER} = <iter_number>
python /opt/Megatron-Bridge/examples/conversion/convert_checkpoints.py export \
--hf-model ${PRUNED_HF} \
--megatron-path ${DISTILL_OUT}/checkpoints/iter_${ITER} \
--hf-path ${DISTILL_OUT}/checkpoints/hf_iter_${ITER}
