#!/usr/bin/env bash
# Run 7d: run 3's phase-3 recipe on CPU (configs/lite0_run7_cpu_phase3.yaml) from a network of run 7's GPU call,
# then the export and the calibration by group (scripts/calibrate_bundled.sh); ~6 + 4 min on 2 cores.
#   scripts/train_lite0_run7_cpu.sh [SOURCE.safetensors=out/gpu7/lite0_run7a.safetensors] [NAME=run7d]
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-out/gpu7/lite0_run7a.safetensors}
name=${2:-run7d}
trufor train configs/lite0_run7_cpu_phase3.yaml model.init="$src" output.dir="out/train/lite0_${name}_cpu_phase3"
trufor train export "out/train/lite0_${name}_cpu_phase3/best.pt" "out/lite0_${name}_uncalibrated.safetensors" --half
scripts/calibrate_bundled.sh "out/lite0_${name}_uncalibrated.safetensors" "out/lite0_${name}.safetensors"
