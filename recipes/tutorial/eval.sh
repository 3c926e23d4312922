# eval: tutorial §4 "Evaluation" with NeMo Evaluator; runs in the tutorial's directory, next to nemo_evaluator.yaml.
# Below: the tutorial's commands, character for character; only its placeholders are variables.
# The four fields the tutorial asks you to set are passed with -o (recipes/errata.yaml, kind: fill).
# placeholder ${HF_TOKEN} = <your_huggingface_token>
# placeholder ${EVAL_DIR} = <path_to_slurm_job_output_dir>
# placeholder ${HF_HOME} = <path_to_huggingface_cache>
# placeholder ${VLLM_CACHE_ROOT} = <path_to_vllm_cache>
pip install "nemo-evaluator-launcher[all]==0.1.90"
# Set required environment variables:
export HF_TOKEN=${HF_TOKEN}
export SLURM_JOB_DIR=${EVAL_DIR}
export HF_HOME=${HF_HOME}
export VLLM_CACHE_ROOT=${VLLM_CACHE_ROOT}
# Set additional unused but required environment variables:
export API_KEY=xxxxxx
export INFERENCE_API_KEY=xxxxxx
export OPENAI_CLIENT_ID=xxxxxx
export OPENAI_CLIENT_SECRET=xxxxxx
nemo-evaluator-launcher run --config nemo_evaluator.yaml
