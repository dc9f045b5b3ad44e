#!/usr/bin/env bash
# Run 3 of the bundled model (trufor_lite0), continued from the committed bundled model as the model card
# records: phase 2 and 3 fine-tuned from src/trufor/bundled/trufor_lite0.safetensors, then export and a
# calibration with every group of authentic photos weighing the same (trufor train calibrate --groups folder).
# Each training phase resumes where it stopped when rerun. Needs ../shared/data (or $TRUFOR_SHARED).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${TRUFOR_SHARED:-../shared}/data
trufor train configs/lite0_continue_phase2.yaml
trufor train configs/lite0_continue_phase3.yaml
trufor train export out/train/lite0_run3_phase3/best.pt out/lite0_run3_uncalibrated.safetensors --half
python scripts/make_heldout_lists.py out/lists
trufor train calibrate out/lite0_run3_uncalibrated.safetensors \
  list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_real.txt" --root "$data" \
  -o out/lite0_run3.safetensors --max-fpr 0.1 --groups folder
# then, when it beats the bundled model on the held-out sets (scripts/evaluate_bundled.sh):
#   cp out/lite0_run3.safetensors src/trufor/bundled/trufor_lite0.safetensors
