#!/usr/bin/env bash
# Run 7 of the bundled trufor_lite0 on one GPU: three jobs side by side, each phase under a wall-clock cap (at
# the cap the trainer gets SIGTERM, saves and stops; the best checkpoint of the finished epochs goes on):
#   7a: phases 2 + 3 from the committed model (run 3) with run 6's camera-trained Noiseprint++
#       (configs/lite0_run7_gpu_phase{2,3}.yaml, model.noiseprint_init);
#   7b: the same with the shipped Noiseprint++ (the control: what the larger budget alone does);
#   phase 1 continued from run 6 at 4x its batch (configs/lite0_run7_gpu_phase1.yaml).
# A second call (JOBS="run7c phase1b") runs:
#   7c: phases 2 + 3 as 7a with run 7's own phase-1 extractor (NOISEPRINT_INIT_7C), shorter (EXTRA_7C);
#   phase 1 continued once more from run 7's first part (configs/lite0_run7_gpu_phase1b.yaml).
# Then 7a and 7b exported in half precision. Afterwards, on any machine: scripts/calibrate_bundled.sh and
# scripts/evaluate_bundled.sh (docs/MODEL_CARD.md, run 7); `trufor train validate` for the phase-1 extractor.
# The data: the real folders (TRUFOR_SHARED), or their lossless crops where the data must travel:
#   python scripts/pack_crops.py .gpu/shared --no-bsds --camera 384 --digicam 256 --other 640
#   TRUFOR_SHARED=.gpu/shared scripts/train_lite0_run7_gpu.sh OUTDIR [PHASE1_S=380] [PHASE2_S=270] [PHASE3_S=110]
# Environment: TRUFOR (the command, default `trufor`), JOBS (default "run7a run7b phase1"), NOISEPRINT_INIT
# (7a's extractor, default out/train/lite0_run6_phase1/best.pt), NOISEPRINT_INIT_7C (7c's, default
# out/train/lite0_run7_gpu_phase1/best.pt), EXTRA (overrides given to every phase, e.g. for a short test),
# EXTRA_7C (7c's schedule, default 600 + 225 steps).
# On CPU the same configs run with train.device=cpu data.workers=1 train.batch_size=4 (EXTRA).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/train_lite0_run7_gpu.sh OUTDIR [PHASE1_S] [PHASE2_S] [PHASE3_S]}
p1=${2:-380}; p2=${3:-270}; p3=${4:-110}
trufor=${TRUFOR:-trufor}
npinit=${NOISEPRINT_INIT:-out/train/lite0_run6_phase1/best.pt}
npinit7c=${NOISEPRINT_INIT_7C:-out/train/lite0_run7_gpu_phase1/best.pt}
jobs=${JOBS:-run7a run7b phase1}
runs=out/train
mkdir -p "$out"

arm() {  # arm NAME PHASE3_OVERRIDES [phase-2 overrides...]: phases 2 and 3 under their caps, then the export
  local name=$1 p3extra=$2; shift 2
  timeout --foreground -s TERM -k 60 "$p2" $trufor train configs/lite0_run7_gpu_phase2.yaml ${EXTRA:-} \
    output.dir="$runs/lite0_${name}_gpu_phase2" "$@" > "$out/${name}_phase2.log" 2>&1
  echo "$name phase 2 exit $?"
  timeout --foreground -s TERM -k 60 "$p3" $trufor train configs/lite0_run7_gpu_phase3.yaml ${EXTRA:-} $p3extra \
    model.init="$runs/lite0_${name}_gpu_phase2/best.pt" output.dir="$runs/lite0_${name}_gpu_phase3" \
    > "$out/${name}_phase3.log" 2>&1
  echo "$name phase 3 exit $?"
  $trufor train export "$runs/lite0_${name}_gpu_phase3/best.pt" "$out/lite0_${name}.safetensors" --half \
    > "$out/${name}_export.log" 2>&1
  echo "$name export exit $?"
}

phase1() {  # phase1 NAME CONFIG: phase 1 under its cap
  timeout --foreground -s TERM -k 60 "$p1" $trufor train "$2" ${EXTRA:-} \
    output.dir="$runs/lite0_run7_gpu_$1" > "$out/run7_$1.log" 2>&1
  echo "$1 exit $?"
  cp "$runs/lite0_run7_gpu_$1/best.pt" "$out/lite0_run7_${1}_best.pt" 2>/dev/null
}

c7=${EXTRA_7C:-train.epochs=3 train.steps_per_epoch=200}
for job in $jobs; do
  case $job in
    run7a) arm run7a "" model.noiseprint_init="$npinit" & ;;
    run7b) arm run7b "" & ;;
    run7c) arm run7c "train.epochs=3" model.noiseprint_init="$npinit7c" $c7 & ;;
    phase1) phase1 phase1 configs/lite0_run7_gpu_phase1.yaml & ;;
    phase1b) phase1 phase1b configs/lite0_run7_gpu_phase1b.yaml & ;;
    *) echo "unknown job $job"; exit 2 ;;
  esac
done
wait
for d in "$runs"/lite0_run7*_gpu_phase?*; do
  cp "$d/metrics.csv" "$out/$(basename "$d")_metrics.csv" 2>/dev/null
done
ls -la "$out"
