#!/usr/bin/env bash
# Run 8b (CPU, ~6 + 4 + 15 min on 2 cores): run 3's phase 3 with web copies of the IMD2020 items
# (configs/lite0_run8_phase3.yaml), export, calibration by group (scripts/calibrate_bundled.sh), then the
# held-out sets (scripts/evaluate_bundled.sh) and the web copies of the held-out authentic photos.
#   scripts/train_lite0_run8.sh
set -euo pipefail
cd "$(dirname "$0")/.."
trufor train configs/lite0_run8_phase3.yaml
trufor train export out/train/lite0_run8b_phase3/best.pt out/lite0_run8b_uncalibrated.safetensors --half
scripts/calibrate_bundled.sh out/lite0_run8b_uncalibrated.safetensors out/lite0_run8b.safetensors
scripts/evaluate_bundled.sh out/lite0_run8b.safetensors run8b
python scripts/make_web_jpeg_set.py out/lists/heldout_real.txt out/testsets/web_jpeg_heldout
trufor eval list:fake_list.txt,real_list.txt --root out/testsets/web_jpeg_heldout \
  -o out/reports/web_jpeg_heldout_run8b --weights out/lite0_run8b.safetensors --no-plots -q
python benchmarks/heldout_table.py out/reports/web_jpeg_heldout_run8b
