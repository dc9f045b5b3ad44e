#!/usr/bin/env bash
# Run 4 of the bundled model (trufor_lite0): a Noiseprint++ trained with camera-model positives across photos
# (phase 1 on camera/ + digicam/, continued from the bundled model's own Noiseprint++), then phases 2 and 3
# fine-tuned from the committed bundled model with that Noiseprint++ in place, export and calibration by
# group as run 3. Each training phase resumes where it stopped when rerun. Needs ../shared/data (or
# $TRUFOR_SHARED).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${TRUFOR_SHARED:-../shared}/data
trufor train configs/lite0_run4_phase1.yaml
trufor train configs/lite0_run4_phase2.yaml
trufor train configs/lite0_run4_phase3.yaml
trufor train export out/train/lite0_run4_phase3/best.pt out/lite0_run4_uncalibrated.safetensors --half
python scripts/make_heldout_lists.py out/lists
trufor train calibrate out/lite0_run4_uncalibrated.safetensors \
  list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_real.txt" --root "$data" \
  -o out/lite0_run4.safetensors --max-fpr 0.1 --groups folder
# then, when it beats the bundled model on the held-out sets (scripts/evaluate_bundled.sh):
#   cp out/lite0_run4.safetensors src/trufor/bundled/trufor_lite0.safetensors
