# Reproduce NVIDIA's "Nemotron-Nano-9B-v2: Prune + Distill + Quantize + vLLM Deployment" tutorial.
# Each step is a stamp file written only when the step exits 0: `make reproduce` after a failure
# resumes at the failed step. `make -n <target>` shows the real commands; `make plan` the cost.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

# ---- variables (override on the command line: make reproduce RUN=try2 RUNNER=slurm) ----
PROFILE       ?= full
MODEL         ?=
# MODEL=<checkpoint> (a Hugging Face id or a directory): `make bench MODEL=...` quantizes and benchmarks that
# checkpoint on one GPU (PROFILE=one-gpu), in a run of its own (RUN=one-gpu-<its name>).
ifneq ($(MODEL),)
ifeq ($(origin PROFILE),file)
PROFILE := one-gpu
endif
endif
RUN           ?= $(if $(MODEL),$(PROFILE)-$(notdir $(patsubst %/,%,$(MODEL))),$(PROFILE))
RUNNER        ?= docker
include versions.env  # the pins: BASE_IMAGE, MODELOPT_REF, VLLM_VERSION, ... (override: make image MODELOPT_REF=0.45.0)
IMAGE         ?= nemotron-repro:modelopt-$(MODELOPT_REF)
HF_HOME       ?= $(HOME)/.cache/huggingface
DATA_ROOT     ?= data
MODELOPT_DIR  ?= /opt/Model-Optimizer
BRIDGE_DIR    ?= /opt/Megatron-Bridge
BASELINE_MODELOPT_DIR ?=
MODELOPT_VERSION ?=
NODES         ?=
GPUS_PER_NODE ?=
SLURM_HOST    ?=
SLURM_ACCOUNT ?=
SLURM_ARGS    ?=
BENCH_EXTRA   ?= 0
WATCH         ?= 0
MATH500       ?= 0
BENCH_REPEATS ?=
PREFLIGHT_SKIP ?=
export PREFLIGHT_SKIP
VENV          ?= .venv

RUNS      ?= runs
RUN_DIR   := $(RUNS)/$(RUN)
PY        := $(VENV)/bin/python
KIT_READY := $(VENV)/.kit-installed
KIT        = $(PY) scripts/kit.py --run-dir $(RUN_DIR) --profile $(PROFILE) --runner $(RUNNER) --image $(IMAGE) \
             --hf-home $(HF_HOME) --data-root $(DATA_ROOT) --modelopt-dir $(MODELOPT_DIR) --bridge-dir $(BRIDGE_DIR) --modelopt-ref $(MODELOPT_REF) \
             $(if $(MODELOPT_VERSION),--modelopt-version $(MODELOPT_VERSION)) \
             $(if $(NODES),--nodes $(NODES)) $(if $(GPUS_PER_NODE),--gpus-per-node $(GPUS_PER_NODE)) \
             $(if $(SLURM_HOST),--slurm-host $(SLURM_HOST)) $(if $(SLURM_ACCOUNT),--slurm-account $(SLURM_ACCOUNT)) \
             $(if $(filter 1,$(WATCH)),--watch) $(foreach a,$(SLURM_ARGS),--slurm-arg=$(a)) $(if $(filter 1,$(MATH500)),--enable MATH500) \
             $(if $(BENCH_REPEATS),--bench-repeats $(BENCH_REPEATS)) $(if $(MODEL),--model $(MODEL))
stamps     = $(foreach u,$(1),$(RUN_DIR)/$(u)/.done)

# Variables make itself would mangle are refused here, named; the kit checks the rest (NODES, GPUS_PER_NODE).
ifneq ($(words $(RUN)),1)
$(error RUN='$(RUN)' is not a usable run id: expected one word of letters, digits, '.', '_' and '-', e.g. RUN=try2)
endif
# A run id names one directory under RUNS: no '/', no '..', nothing a shell would read (RUN=../x wrote outside RUNS).
_drop = $(if $(2),$(call _drop,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,$(words $(2)),$(2))),$(1))
_ID_CHARS := a b c d e f g h i j k l m n o p q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V W X Y Z \
             0 1 2 3 4 5 6 7 8 9 . _ -
ifneq ($(call _drop,$(RUN),$(_ID_CHARS))$(findstring ..,$(RUN))$(filter .% -% _%,$(RUN)),)
$(error RUN='$(RUN)' is not a usable run id: expected one word of letters, digits, '.', '_' and '-' that starts with a letter or digit, with no '/' or '..' (the run lives in RUNS=$(RUNS)/<RUN>). What to do: e.g. RUN=try2, or RUNS=<dir> to put runs elsewhere)
endif
ifneq ($(filter-out local docker slurm,$(RUNNER)),)
$(error RUNNER=$(RUNNER) is unknown: expected local, docker or slurm)
endif
ifeq ($(wildcard recipes/profiles/$(PROFILE).yaml),)
$(error PROFILE=$(PROFILE) is unknown: expected one of $(basename $(notdir $(wildcard recipes/profiles/*.yaml))))
endif

# The profile's steps become stamp rules (UNITS_* lists too); regenerated when the profile changes. Writing them
# needs the kit's venv, so only the goals that run steps include them: `make help`, `make -n check`, `make plan`
# and the like install nothing they do not use.
UNITS_MK := $(VENV)/units-$(PROFILE)$(if $(MODEL),-$(subst :,_,$(subst /,_,$(MODEL)))).mk
NO_UNITS_GOALS := help test test-fast check report plan demo image lock image-check drift drift-flags gate bench-parse regress
ifneq ($(filter-out $(NO_UNITS_GOALS),$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL))),)
include $(UNITS_MK)
endif
$(UNITS_MK): recipes/profiles/$(PROFILE).yaml scripts/kit.py | $(KIT_READY)
	$(PY) scripts/kit.py --run-dir $(RUN_DIR) --profile $(PROFILE) $(if $(MODEL),--model $(MODEL)) mk > $@.$$$$.tmp && mv $@.$$$$.tmp $@

# Each install phase says what it installs and about how long it takes (measured on a 2-core machine, warm pip cache).
$(KIT_READY): pyproject.toml
	@echo "[kit] setup 1/2: creating $(VENV) (python3 -m venv; a few seconds, once)"
	python3 -m venv $(VENV)
	@echo "[kit] setup 2/2: installing the kit into $(VENV): checks, rich, pyyaml, packaging (~10 s, once; log $(VENV)/install.log)"
	$(PY) -m pip install -q -e . > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	touch $@
PLOTS_READY := $(VENV)/.plots-installed
$(PLOTS_READY): | $(KIT_READY)
	@$(PY) -c "import matplotlib" 2>/dev/null || { echo "[kit] setup: installing matplotlib into $(VENV) for the report's plots (~25 s, once)"; \
	  $(PY) -m pip install -q -e '.[plots]'; }
	@touch $@
TEST_READY := $(VENV)/.test-installed
$(TEST_READY): pyproject.toml
	@echo "[kit] setup 1/2: creating $(VENV) (python3 -m venv; a few seconds, once)"
	python3 -m venv $(VENV)
	@echo "[kit] setup 2/2: installing the kit with its test extras into $(VENV): pytest, pytest-xdist, hypothesis, torch 2.13.0 (CPU), transformers, safetensors, numpy, matplotlib, hadolint (~1.3 GB; 1-2 min from a warm pip cache, once)"
	$(PY) -m pip install -q -e '.[test]'
	touch $@ $(KIT_READY)

.PHONY: help image lock image-check data prune distill convert eval quantize bench-bf16 bench-fp8 bench \
        steps reproduce check report plan test test-fast preflight regress drift demo drift-flags gate bench-parse

help: ## list the targets (this text)
	@echo "Targets (variables: RUN=$(RUN) PROFILE=$(PROFILE) RUNNER=$(RUNNER) IMAGE=$(IMAGE) NODES GPUS_PER_NODE HF_HOME):"
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/^([a-z0-9-]+):.*## /\1\t/' | \
	  awk -F'\t' '{ printf "  %-12s %s\n", $$1, $$2 }'

image: ## build the pinned image (MODELOPT_REF selects Model-Optimizer; IMAGE names it)
	$(PY) scripts/image.py build --image $(IMAGE) --modelopt-ref $(MODELOPT_REF)

lock: ## pin the base image by digest into image.lock (needs access to nvcr.io)
	$(PY) scripts/image.py lock

image-check: ## inside the image: versions, Model-Optimizer ref, script paths, vLLM venv
	$(PY) scripts/image.py check --image $(IMAGE) --modelopt-ref $(MODELOPT_REF)

data: $(call stamps,$(UNITS_data)) ## tokenize the 12-dataset distillation blend (CPU, hours)
prune: $(call stamps,$(UNITS_prune)) ## Minitron pruning 9B -> 7B (1 node x 8 GPUs, ~1 h)
distill: $(call stamps,$(UNITS_distill)) ## knowledge distillation (96 nodes x 8 GPUs, ~12 h; NODES=1 allowed)
convert: $(call stamps,$(UNITS_convert)) ## export distillation iteration 12800 to Hugging Face format
eval: $(call stamps,$(UNITS_eval)) ## NeMo Evaluator on the converted checkpoint (Slurm: SLURM_HOST, SLURM_ACCOUNT)
quantize: $(call stamps,$(UNITS_quantize)) ## FP8 PTQ with the conservative config (1 node x 8 GPUs, minutes)
bench-bf16: $(call stamps,$(UNITS_bench_bf16)) ## vllm bench throughput: official 9B and pruned 7B, BF16 (1 H100); MODEL=<checkpoint>: that one
bench-fp8: $(call stamps,$(UNITS_bench_fp8)) ## vllm bench throughput: pruned 7B FP8 (1 H100); MODEL=<checkpoint>: quantize it, then bench it
bench: bench-bf16 bench-fp8 $(if $(filter 1,$(BENCH_EXTRA)),$(call stamps,$(UNITS_bench_extra))) ## both (BENCH_EXTRA=1: also 9B-FP8 and 12B); MODEL=<checkpoint>: both on one GPU, then check
	$(if $(MODEL),$(MAKE) --no-print-directory check)

steps: $(call stamps,$(UNITS_all)) ## every step of PROFILE in order (no check)
reproduce: | $(KIT_READY) ## the front door (make gate), then every step in order, then `make check`
	$(GATE_FIRST)
	$(MAKE) --no-print-directory steps
	$(MAKE) --no-print-directory check

REGRESS_RUN ?= regress-$(PROFILE)-modelopt-$(MODELOPT_REF)
regress: | $(KIT_READY) ## MODELOPT_REF=<new> BASELINE=runs/<id> [PROFILE=tiny]: build, check flags, run the tier, judge vs goldens and baseline
	@test -n "$(BASELINE)" || { echo "make regress: set BASELINE=runs/<id>, a finished run of PROFILE=$(PROFILE) with the old ModelOpt" >&2; exit 2; }
	@$(KIT) baseline $(BASELINE)
	$(if $(filter local,$(RUNNER)),@$(LOCAL_CHECKOUT),$(MAKE) --no-print-directory image)
	$(MAKE) --no-print-directory gate RUN=$(REGRESS_RUN) BASELINE=$(BASELINE)
	$(MAKE) --no-print-directory steps RUN=$(REGRESS_RUN)
	@rc=0; \
	$(PY) -m checks verify $(RUNS)/$(REGRESS_RUN) --expected expected/$(PROFILE).yaml --json $(RUNS)/$(REGRESS_RUN)/report.json || rc=$$?; \
	$(PY) -m checks diff $(BASELINE) $(RUNS)/$(REGRESS_RUN) --expected expected/$(PROFILE).yaml --json $(RUNS)/$(REGRESS_RUN)/diff.json || { r=$$?; [ $$r -gt $$rc ] && rc=$$r; }; \
	exit $$rc

# RUNNER=local runs in this environment (inside the image): no image is built, so the checkout at MODELOPT_DIR is
# what runs; the image writes its ref to .kit-ref (Containerfile), and a different one stops here.
LOCAL_CHECKOUT = echo "make regress: RUNNER=local runs in this environment: no image is built; the steps use the Model-Optimizer checkout at MODELOPT_DIR=$(MODELOPT_DIR), taken to be at MODELOPT_REF=$(MODELOPT_REF)"; \
	if [ -f "$(MODELOPT_DIR)/.kit-ref" ]; then read -r ref sha < "$(MODELOPT_DIR)/.kit-ref"; [ "$$ref" = "$(MODELOPT_REF)" ] || { \
	echo "make regress: MODELOPT_DIR=$(MODELOPT_DIR) holds Model-Optimizer $$ref ($$sha; its .kit-ref), not MODELOPT_REF=$(MODELOPT_REF): nothing was launched. What to do: run in an image built with MODELOPT_REF=$(MODELOPT_REF), or point MODELOPT_DIR at a checkout of it" >&2; exit 2; }; fi
# `checks drift` reads the checkouts where the steps will run: inside the image, or here with RUNNER=local.
IN_IMAGE = $(if $(filter local,$(RUNNER)),$(PY),docker run --rm -v $(CURDIR):$(CURDIR) -v $(abspath $(RUN_DIR)):$(abspath $(RUN_DIR)) -w $(CURDIR) $(IMAGE) python3)

# Targets that run `checks` in the image stop here, with what to do, when no Docker engine answers.
DOCKER_OK = $(if $(filter local,$(RUNNER)),@:,@docker info >/dev/null 2>&1 || { echo "make $@: RUNNER=$(RUNNER) runs this in the image $(IMAGE), and no Docker engine answers ('docker info' failed). What to do: start Docker, or run it inside the image with RUNNER=local" >&2; exit 2; })

drift-flags: | $(KIT_READY) ## before any GPU time: every script PROFILE's commands call exists at MODELOPT_REF and takes their flags
	$(DOCKER_OK)
	@mkdir -p $(RUN_DIR)
	$(KIT) commands > $(RUN_DIR)/commands.json.tmp && mv $(RUN_DIR)/commands.json.tmp $(RUN_DIR)/commands.json
	@rc=0; $(IN_IMAGE) -m checks drift --flags-only --commands $(abspath $(RUN_DIR))/commands.json --modelopt-root $(MODELOPT_DIR) \
	  $(if $(filter local,$(RUNNER)),$(if $(wildcard $(BRIDGE_DIR)),--bridge-root $(BRIDGE_DIR)),--bridge-root $(BRIDGE_DIR)) \
	  --json $(abspath $(RUN_DIR))/drift.json || rc=$$?; \
	[ $$rc -eq 0 ] || echo "make drift-flags: the commands rendered for Model-Optimizer $(MODELOPT_REF) (errata applied; $(RUN_DIR)/commands.json) call a script or pass a flag that the Model-Optimizer checkout at MODELOPT_DIR=$(MODELOPT_DIR) or the Megatron-Bridge checkout at BRIDGE_DIR=$(BRIDGE_DIR) does not have (each MISSING line names its repository and file), or it could not be read (the MISSING/ERROR lines above; $(RUN_DIR)/drift.json). Nothing was launched. What to do: give the erratum a range for this version in recipes/errata.yaml, or check MODELOPT_REF / MODELOPT_DIR." >&2; \
	exit $$rc

drift: | $(KIT_READY) ## compare recipes/ with the tutorial README of the image's Model-Optimizer (MODELOPT_REF)
	$(DOCKER_OK)
	$(if $(filter local,$(RUNNER)),$(PY),docker run --rm -v $(CURDIR):$(CURDIR) -w $(CURDIR) $(IMAGE) python3) -m checks drift \
	  --readme $(MODELOPT_DIR)/examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2/README.md \
	  --modelopt-root $(MODELOPT_DIR) $(if $(filter local,$(RUNNER)),,--bridge-root /opt/Megatron-Bridge)

check: | $(KIT_READY) ## judge runs/RUN against expected/PROFILE.yaml (writes report.json, report.xml)
	$(PY) -m checks verify $(RUN_DIR) --expected expected/$(PROFILE).yaml --json $(RUN_DIR)/report.json --junit $(RUN_DIR)/report.xml

report: | $(PLOTS_READY) ## HTML page of runs/RUN's verdicts with plots (BASELINE=runs/<id> overlays its losses)
	$(PY) -m checks report $(RUN_DIR) --expected expected/$(PROFILE).yaml --html $(RUN_DIR)/report.html $(if $(BASELINE),--baseline $(BASELINE))

demo: | $(PLOTS_READY) ## a first look without a GPU: verify, diff and the HTML report on real H100 runs (demo/)
	$(PY) demo/run_demo.py --out build/demo

plan: | $(KIT_READY) ## print each step's command, resources and GPU-hours (nothing runs)
	$(KIT) plan

preflight: | $(KIT_READY) ## the front door (make gate), then what every step of the profile needs, without running anything
	@$(KIT) units > /dev/null  # bad variables: said once, before the steps are checked one by one
	$(GATE_FIRST)
	@rc=0; for u in $(UNITS_all); do $(KIT) preflight $$u || rc=2; done; exit $$rc

# ---- the front door: before any GPU time, will MODELOPT_REF run PROFILE's commands as the kit renders them? ----
# `checks drift --gate` where the steps will run (in the image for RUNNER=docker; here for local, inside the image,
# and slurm, on the login node): every script exists and takes its flags, every name it imports from the pinned
# Megatron-Bridge / megatron-core exists (their wheels from the registry, cached in GATE_PACKAGES, never installed),
# each eval golden names a metric the evaluator yaml at the ref produces, and the launcher's own --dry-run accepts
# the eval launch (the launcher the step runs: on PATH, else .envs/launcher). With BASELINE=runs/<id> (make regress),
# the defaults the commands rely on are compared with the baseline's checkout. Findings: runs/<RUN>/gate.json,
# which each step's preflight holds its command against. PREFLIGHT_SKIP=gate skips it (said, never silently).
GATE_PACKAGES ?= $(RUN_DIR)/gate-packages
GATE_FETCH    ?= 1
GATE_LAUNCHER ?= $(if $(filter docker,$(RUNNER)),nemo-evaluator-launcher,$(or $(shell command -v nemo-evaluator-launcher 2>/dev/null),$(CURDIR)/.envs/launcher/bin/nemo-evaluator-launcher))
GATE_IN        = $(if $(filter docker,$(RUNNER)),$(IN_IMAGE),$(PY))
GATE_BRIDGE    = $(if $(filter docker,$(RUNNER)),--bridge-root $(BRIDGE_DIR),$(if $(wildcard $(BRIDGE_DIR)),--bridge-root $(BRIDGE_DIR)))
comma := ,
GATE_FIRST     = $(if $(filter gate,$(subst $(comma), ,$(PREFLIGHT_SKIP))),@echo "make: PREFLIGHT_SKIP=gate: the front door (make gate) is not checked" >&2,$(MAKE) --no-print-directory gate)

gate: | $(KIT_READY) ## the front door, no GPU: will MODELOPT_REF run PROFILE's commands? (scripts, flags, imports, eval goldens, launcher dry-run)
	@mkdir -p $(RUN_DIR)
	$(KIT) commands > $(RUN_DIR)/commands.json.tmp && mv $(RUN_DIR)/commands.json.tmp $(RUN_DIR)/commands.json
	@base=(); $(if $(BASELINE),b=$$($(PY) scripts/baseline_checkout.py $(BASELINE) $(abspath $(RUN_DIR))/baseline-checkout $(BASELINE_MODELOPT_DIR)) || exit 2; \
	if [[ $$b == SKIP:* ]]; then base=(--baseline-skip "$${b#SKIP:}"); else base=(--baseline-modelopt-root "$$b"); fi;) \
	rc=0; $(GATE_IN) -m checks drift --gate --modelopt-ref $(MODELOPT_REF) --commands $(abspath $(RUN_DIR))/commands.json --modelopt-root $(MODELOPT_DIR) \
	  $(GATE_BRIDGE) --expected expected/$(PROFILE).yaml --packages $(abspath $(GATE_PACKAGES)) $(if $(filter 1,$(GATE_FETCH)),--fetch) \
	  --launcher $(GATE_LAUNCHER) "$${base[@]}" --json $(abspath $(RUN_DIR))/gate.json || rc=$$?; \
	[ $$rc -eq 0 ] || echo "make gate: Model-Optimizer $(MODELOPT_REF) will not run PROFILE=$(PROFILE)'s commands as rendered ($(RUN_DIR)/commands.json): the MISSING, FAIL, CHANGED or ERROR lines above, in the words of the check that found them ($(RUN_DIR)/gate.json). Nothing was launched, no GPU time was spent. What to do: what each line says (an erratum with a version range in recipes/errata.yaml, goldens re-blessed for this version, another MODELOPT_REF), then make gate again." >&2; \
	exit $$rc

bench-parse: | $(KIT_READY) ## time `checks verify --step distill` on a generated log against a line scan (SIZE=1GiB)
	$(PY) scripts/bench_parse.py --size $(or $(SIZE),1GiB) --repeats $(or $(REPEATS),3)

TEST_JOBS ?= 2
test: | $(TEST_READY) ## run every test of the kit (no GPU needed; README "Development": times and what it installs)
	$(PY) -m pytest -q -n $(TEST_JOBS)
test-fast: | $(TEST_READY) ## the tests not marked slow: every module of checks/ and scripts/, in under 90 s
	$(PY) -m pytest -q -n $(TEST_JOBS) -m "not slow"
