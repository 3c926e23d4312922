# eval (Math 500): a kit addition, only with MATH500=1 and JUDGE_API_KEY set. The tutorial's results table
# reports Math 500 (AA_math_test_500_score_micro_avg_of_5), but its nemo_evaluator.yaml at ModelOpt 0.44.0 leaves
# that task commented out ("Requires JUDGE_API_KEY"). This runs the commented task, uncommented as written,
# through the same launcher with the same four fields filled in, and nothing else.
python3 ${KIT_ROOT}/scripts/enable_task.py nemo_evaluator.yaml AA_math_test_500 > ${STEP_DIR}/nemo_evaluator_math500.yaml
nemo-evaluator-launcher run --config ${STEP_DIR}/nemo_evaluator_math500.yaml -o execution.hostname=${SLURM_HOST} -o execution.account=${SLURM_ACCOUNT} -o deployment.checkpoint_path=${CHECKPOINT} -o evaluation.nemo_evaluator_config.config.params.extra.tokenizer=${CHECKPOINT}
