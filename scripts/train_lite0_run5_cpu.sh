#!/usr/bin/env bash
# Run 5 of the bundled trufor_lite0 on CPU: the GPU recipe's configs (configs/lite0_run5_gpu_phase{2,3}.yaml,
# scripts/train_lite0_run5_gpu.sh) at run 4's CPU budget (batch 4; 750 phase-2 + 300 phase-3 steps at run 4's
# learning rates), so that they compare with run 4's arms step for step. Two arms, one after the other:
#   arm C (run 5c): phase 3 only, from the shipped model (run 3's localization kept; confidence and detection
#                   re-fitted on run 5's data: donor-JPEG splices, IMD2020 repeated less);
#   arm A (run 5a): phases 2 + 3 from the shipped model on run 5's data (against run 4's arm old-np: the
#                   synthesis changes alone).
# Then each is exported; calibrate with scripts/calibrate_bundled.sh UNCALIBRATED OUT, evaluate with
# scripts/evaluate_bundled.sh OUT NAME (docs/MODEL_CARD.md, run 5).
#   scripts/train_lite0_run5_cpu.sh [ARMS="c a"]     # rerun to continue a stopped run
set -euo pipefail
cd "$(dirname "$0")/.."
runs=out/train
cpu="data.workers=1 train.batch_size=4 train.threads=2 val.batch_size=8"
for arm in ${1:-c a}; do
  case $arm in
    c)
      trufor train configs/lite0_run5_gpu_phase3.yaml $cpu train.epochs=2 train.steps_per_epoch=150 \
        model.init=src/trufor/bundled/trufor_lite0.safetensors output.dir=$runs/lite0_run5c_cpu_phase3
      trufor train export $runs/lite0_run5c_cpu_phase3/best.pt out/lite0_run5c_uncalibrated.safetensors --half ;;
    a)
      trufor train configs/lite0_run5_gpu_phase2.yaml $cpu train.epochs=3 train.steps_per_epoch=250 \
        train.lr=0.00015 train.warmup_steps=50 output.dir=$runs/lite0_run5a_cpu_phase2
      trufor train configs/lite0_run5_gpu_phase3.yaml $cpu train.epochs=2 train.steps_per_epoch=150 \
        model.init=$runs/lite0_run5a_cpu_phase2/best.pt output.dir=$runs/lite0_run5a_cpu_phase3
      trufor train export $runs/lite0_run5a_cpu_phase3/best.pt out/lite0_run5a_uncalibrated.safetensors --half ;;
    *) echo "unknown arm $arm (c or a)" >&2; exit 2 ;;
  esac
done
