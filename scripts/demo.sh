#!/usr/bin/env bash
# The main job on the embedded default model (SmolLM2-135M-Instruct), offline, on a CPU:
# 1. self-questioning with all four methods plus the baseline (the default model's row of Table II);
# 2. one whole self-learning cycle: questions -> scoring -> metrics -> curation on the WordNet index ->
#    LoRA+DPO -> merge -> evaluation before/after; 3. the HTML report of everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WS=${WORKSPACE:-workspace}
N=${N:-8}
SL=.venv/bin/selflearn
$SL questions --method all -n "$N" -c smollm2-135m -w "$WS"
$SL learn --cycles "${CYCLES:-1}" -n "${LEARN_N:-16}" -c smollm2-135m -w "$WS"
$SL report -w "$WS" -o "$WS/report.html"
echo "report: $WS/report.html"
