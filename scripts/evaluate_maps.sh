#!/usr/bin/env bash
# The maps of a phase-2 network, before any phase 3 (runs 12 on): out/train/RUN/last.pt exported with the heads it
# started from (they are not judged here) to out/RUN.safetensors, then evaluated on the held-out part, the calibration
# part and the synthetic held-out set into out/reports/{heldout,calibpart,synthetic_holdout}_NAME, where
# benchmarks/map_scores.py and benchmarks/paired_bootstrap.py read them (~15 min on 2 cores; a rerun resumes).
#   scripts/evaluate_maps.sh NAME RUN
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/evaluate_maps.sh NAME RUN" >&2; exit 2; }
cd "$(dirname "$0")/.."
name=$1; out=out/$2.safetensors
data=${TRUFOR_SHARED:-../shared}/data
[ -f "$out" ] || trufor train export "out/train/$2/last.pt" "$out" --half --allow-phase2
python scripts/make_heldout_lists.py out/lists > /dev/null
[ -f out/testsets/synthetic_holdout/fake_list.txt ] || python scripts/make_synthetic_testset.py out/testsets/synthetic_holdout -n 300
trufor eval list:"$PWD/out/lists/imd2020_val_fake.txt","$PWD/out/lists/heldout_real.txt" --root "$data" \
  -o "out/reports/heldout_$name" --weights "$out" --no-plots -q
trufor eval list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_groups_real.txt" --root "$data" \
  -o "out/reports/calibpart_$name" --weights "$out" --no-plots -q
trufor eval list:fake_list.txt,real_list.txt --root out/testsets/synthetic_holdout \
  -o "out/reports/synthetic_holdout_$name" --weights "$out" --no-plots -q
