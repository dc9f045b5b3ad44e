#!/usr/bin/env bash
# Run 6 of the bundled trufor_lite0, phase 1: run 4's camera-trained Noiseprint++ continued (configs/lite0_run6_phase1.yaml),
# then its Noiseprint++ figure on a camera splice. Needs run 4's phase 1 (scripts/train_bundled_lite0_run4.sh).
#   scripts/train_lite0_run6_phase1.sh        # rerun to continue a stopped run
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${TRUFOR_SHARED:-../shared}
trufor train configs/lite0_run6_phase1.yaml "$@"
trufor train noiseprint-figure out/train/lite0_run6_phase1/best.pt "$shared/parity/extra/g_camsplice_640x480.jpg" \
  --mask "$shared/parity/extra/g_camsplice_640x480.mask.png" -o out/train/lite0_run6_phase1/noiseprint_splice.png
