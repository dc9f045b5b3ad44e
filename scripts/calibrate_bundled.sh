#!/usr/bin/env bash
# Calibrate an exported bundled-model candidate (run 5 on): Platt scaling of the detection logit fitted on the
# calibration parts of the training-side data (IMD2020 calib fakes; digicam, IMD2020 and bsds500 calib
# originals, each folder a group that weighs the same and keeps at most 10 % false positives at 0.5).
# Never a benchmark. Runs 1-4 were calibrated without the bsds500 group (out/lists/calib_real.txt). REAL_LIST (optional,
# a list file made by scripts/make_heldout_lists.py) replaces the authentic photos: run 27 on take
# out/lists/calib_groups_camera_real.txt (the same groups plus the camera calibration part).
#   scripts/calibrate_bundled.sh UNCALIBRATED.safetensors OUT.safetensors [REAL_LIST]
set -euo pipefail
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: scripts/calibrate_bundled.sh UNCALIBRATED OUT [REAL_LIST]" >&2; exit 2; }
real=$([ $# -eq 3 ] && realpath -m "$3" || true)
cd "$(dirname "$0")/.."
real=${real:-$PWD/out/lists/calib_groups_real.txt}
data=${TRUFOR_SHARED:-../shared}/data
python scripts/make_heldout_lists.py out/lists > /dev/null
trufor train calibrate "$1" list:"$PWD/out/lists/imd2020_calib_fake.txt","$real" \
  --root "$data" -o "$2" --max-fpr 0.1 --groups folder
