#!/usr/bin/env bash
# Run 5 of the bundled trufor_lite0 on one GPU: three arms side by side, each phase under a wall-clock cap
# (at the cap the trainer gets SIGTERM, saves and stops; the best checkpoint of the finished
# epochs goes on), then all exported in half precision. Then, on any machine: scripts/calibrate_bundled.sh and
# scripts/evaluate_bundled.sh (see docs/MODEL_CARD.md, run 5). Prepared for a GPU; not yet run on one.
#   arm A (run 5a): configs/lite0_run5_gpu_phase{2,3}.yaml as written (run 3's Noiseprint++);
#   arm B (run 5b): the same with the camera-trained Noiseprint++ of configs/lite0_run4_phase1.yaml;
#   arm C (run 5c): phase 3 only, from the shipped model (run 3's localization kept, confidence and
#                   detection re-fitted on run 5's data), for both caps together.
# The data: the real folders (TRUFOR_SHARED), or their lossless crops from scripts/pack_crops.py where the
# data must travel.
#   scripts/train_lite0_run5_gpu.sh OUTDIR [PHASE2_SECONDS=240] [PHASE3_SECONDS=150]
# Environment: TRUFOR (the command, default `trufor`), NOISEPRINT_INIT (arm B's extractor, default
# out/train/lite0_phase1_cameras/best.pt), EXTRA (overrides given to every phase, e.g. for a short test).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/train_lite0_run5_gpu.sh OUTDIR [PHASE2_SECONDS] [PHASE3_SECONDS]}
p2=${2:-240}; p3=${3:-150}
trufor=${TRUFOR:-trufor}
npinit=${NOISEPRINT_INIT:-out/train/lite0_phase1_cameras/best.pt}
mkdir -p "$out"
runs=out/train

export_arm() {  # export_arm NAME: the arm's best phase-3 checkpoint, in half precision
  $trufor train export "$runs/lite0_${1}_gpu_phase3/best.pt" "$out/lite0_${1}.safetensors" --half \
    > "$out/${1}_export.log" 2>&1
  echo "$1 export exit $?"
}

arm() {  # arm NAME [phase-2 overrides...]
  local name=$1; shift
  timeout -s TERM -k 60 "$p2" $trufor train configs/lite0_run5_gpu_phase2.yaml ${EXTRA:-} \
    output.dir="$runs/lite0_${name}_gpu_phase2" "$@" > "$out/${name}_phase2.log" 2>&1
  echo "$name phase 2 exit $?"
  timeout -s TERM -k 60 "$p3" $trufor train configs/lite0_run5_gpu_phase3.yaml ${EXTRA:-} \
    model.init="$runs/lite0_${name}_gpu_phase2/best.pt" output.dir="$runs/lite0_${name}_gpu_phase3" \
    > "$out/${name}_phase3.log" 2>&1
  echo "$name phase 3 exit $?"
  export_arm "$name"
}

phase3_only() {  # phase3_only NAME
  local name=$1
  timeout -s TERM -k 60 "$((p2 + p3))" $trufor train configs/lite0_run5_gpu_phase3.yaml ${EXTRA:-} \
    model.init=src/trufor/bundled/trufor_lite0.safetensors output.dir="$runs/lite0_${name}_gpu_phase3" \
    > "$out/${name}_phase3.log" 2>&1
  echo "$name phase 3 exit $?"
  export_arm "$name"
}

arm run5a &
arm run5b model.noiseprint_init="$npinit" &
phase3_only run5c &
wait
for d in "$runs"/lite0_run5?_gpu_phase?; do
  cp "$d/metrics.csv" "$out/$(basename "$d")_metrics.csv" 2>/dev/null
done
ls -la "$out"
