#!/usr/bin/env bash
# Run 29 (CPU, 2 cores): the uniform weight average of run 27's shipped network and run 28's continuation of it (run
# 28 = run 27b's image-level recipe for 600 more steps from run 27's file; scripts/train_lite0_run28.sh), i.e. half of
# run 28's step away from run 27. Both share run 27's confidence decoder and head (phase 2 leaves them as they are);
# the average is calibrated like runs 27 and 28.
# Steps, and the rule, fixed before any figure of run 28 or run 29:
#   soup     trufor train average out/run27_bundled.safetensors out/lite0_run28_uncalibrated.safetensors
#   top      scripts/calibrate_bundled.sh ... out/lists/calib_groups_camera_real.txt (run 27's calibration groups)
#   eval     NO_WEB=1 scripts/evaluate_bundled.sh for run 29
#   judge    against run 27, the shipped file, with run 28's rule (run 26's; scripts/train_lite0_run28.sh), clauses
#            (1)-(4) unchanged. If only one of runs 28 and 29 passes, it is shipped; if both pass, the one whose
#            (c+d) pooled AUC against all authentic photos is higher (point estimate; the paired bootstrap between the
#            two reported beside) is shipped; then CASIA v1 is measured once for that file. If neither passes, run 27
#            stays.
# Not passed (docs/MODEL_CARD.md, runs 28 and 29): (1) fails (shares 0.844, 0.180, 0.625) and (3) fails (held-out
# camera FPR at 0.5 0.150); (2) and (4) (0.928) hold. Neither run passed: run 27 stays.
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run29.sh [soup] [top] [eval] [judge] [casia]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(soup top eval judge)
data=${TRUFOR_SHARED:-../shared}/data
run27=out/run27_bundled.safetensors  # the shipped file of run 27
[ -f out/lite0_run28_uncalibrated.safetensors ] || scripts/train_lite0_run28.sh phase2 export
sets=(heldout calibpart synthetic_holdout)
for step in "${steps[@]}"; do
  case $step in
    soup)
      [ -f out/lite0_run29_uncalibrated.safetensors ] || trufor train average $run27 \
        out/lite0_run28_uncalibrated.safetensors -o out/lite0_run29_uncalibrated.safetensors ;;
    top)
      [ -f out/lite0_run29.safetensors ] || scripts/calibrate_bundled.sh out/lite0_run29_uncalibrated.safetensors \
        out/lite0_run29.safetensors out/lists/calib_groups_camera_real.txt ;;
    eval)
      [ -f out/reports/calibpart_run27/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh $run27 run27
      NO_WEB=1 scripts/evaluate_bundled.sh out/lite0_run29.safetensors run29 ;;
    judge)
      python benchmarks/compare_models.py run27 run28 run29
      python benchmarks/paired_bootstrap.py run27 run29 --sets heldout calibpart
      python benchmarks/paired_bootstrap.py run27 run29 --sets synthetic_holdout
      python benchmarks/confidence_quality.py run27 run29 --sets "${sets[@]}"
      python benchmarks/paired_bootstrap.py run28 run29 --sets heldout calibpart ;;  # beside the rule
    casia)  # CASIA v1 once, for a file shipped
      trufor eval casia1 --root "$data/benchmarks/casia1" -o out/reports/casia1_run29 \
        --weights out/lite0_run29.safetensors -q ;;
    *) echo "unknown step $step (soup, top, eval, judge, casia)" >&2
       exit 2 ;;
  esac
done
