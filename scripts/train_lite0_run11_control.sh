#!/usr/bin/env bash
# Run 11's control (CPU, 2 cores): run 11's phase 2 with run 3's weighting of the real-life training photos
# (configs/lite0_run11_control_phase2.yaml: same start, steps, learning rate and seeds), exported with the heads it
# started from (run 3.1's: its maps are what this measures) and evaluated on the sets whose maps
# benchmarks/map_scores.py reads (held-out and calibration parts) and on the synthetic held-out set (localization).
#   scripts/train_lite0_run11_control.sh      then: python benchmarks/map_scores.py run3_1 run11 run11_control
set -euo pipefail
cd "$(dirname "$0")/.."
data=${TRUFOR_SHARED:-../shared}/data
out=out/lite0_run11_control_phase2.safetensors
python scripts/make_heldout_lists.py out/lists > /dev/null
if [ ! -f $out ]; then
  trufor train configs/lite0_run11_control_phase2.yaml train.progress=false
  trufor train export out/train/lite0_run11_control_phase2/last.pt $out --half --allow-phase2
fi
trufor eval list:"$PWD/out/lists/imd2020_val_fake.txt","$PWD/out/lists/heldout_real.txt" --root "$data" \
  -o out/reports/heldout_run11_control --weights $out --no-plots -q
trufor eval list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_groups_real.txt" --root "$data" \
  -o out/reports/calibpart_run11_control --weights $out --no-plots -q
trufor eval list:fake_list.txt,real_list.txt --root out/testsets/synthetic_holdout \
  -o out/reports/synthetic_holdout_run11_control --weights $out --no-plots -q
