#!/usr/bin/env bash
# Run 17 (CPU, 2 cores): the shipped detector and a confidence map that learned its target, in one model. Run 16 showed
# the two pull apart when they share a decoder: with the detection gradient stopped the confidence learned (mean error
# AUC 0.59 -> 0.97) and the detector lost the real photos (0.901 -> 0.716); weighted 25x, the same (16b). The model now
# takes a detection decoder of its own (TruForConfig.detection_decoder, variant trufor_lite0_detdec): `trufor train
# graft-confidence` makes run 14's confidence decoder its detection decoder (run 14's detection head was trained to
# pool it, so every score stays run 14's) and takes the confidence decoder of other phase-3 draws on the same network.
# Steps, and the rule, fixed before any figure of run 17:
#   draws    run 16's detached phase 3 (configs/lite0_run17_phase3.yaml: the TCP target only, best.pt by the
#            confidence's validation MSE) on the shipped network (run 14's file, whose trunk is 12d's in float16) from
#            run 2's heads with run 14's seeds, averaged (scripts/phase3_draws.sh, ~17 min); their detectors are unused
#   graft    run 14 + that confidence decoder (trufor train graft-confidence), out/lite0_run17.safetensors
#   eval     held-out sets and the calibration part, the web-scale set left out (it changes no figure below:
#            NO_WEB=1 scripts/evaluate_bundled.sh, ~12 min); run 14's too (run14), when out/reports lacks them
#   judge    against run 14 (A = run 14, B = run 17): benchmarks/same_outputs.py and benchmarks/confidence_quality.py
#            (4000 resamples, seed 0) on heldout, calibpart, synthetic_holdout. Shipped when
#            (0) B's scores and F1 best equal A's on every image of the three sets (tolerance 1e-6);
#            (1) B's confidence marks the map's errors better: mean error AUC ahead with share >= 0.95, and MSE to the
#                TCP below A's on each set;
#            (2) B tells the map's false alarms from its true detections no worse than A: its flagged-pixel error AUC
#                at least A's on heldout and on calibpart (the real photos).
#            Then shipped (scripts/ship_bundled.py). Its scores and maps are run 14's, so are its CASIA v1 figures:
#            CASIA is not run again.
# Run 17b: the same with the confidence loss balanced between the pixels the map flags and the others
# (configs/lite0_run17b_phase3.yaml, loss.conf_balance: flagged), fixed with run 17, before any figure of either:
#   draws17b, graft17b, eval17b, judge17b   as above (A = run 14, B = run 17b).
#   If 17 and 17b both pass, the one with the higher mean of the flagged-pixel error AUC over heldout and calibpart is
#   shipped.
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run17.sh [draws] [graft] [eval] [judge] [draws17b] [graft17b] [eval17b] [judge17b]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(draws graft draws17b graft17b eval eval17b judge judge17b)
mkdir -p out
run2=out/run2_bundled.safetensors
[ -f $run2 ] || git show 6f67c4d:src/trufor/bundled/trufor_lite0.safetensors > $run2
run14=out/run14_bundled.safetensors  # the shipped file of run 14 (and its network)
[ -f $run14 ] || git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14
sets=(heldout calibpart synthetic_holdout)

for step in "${steps[@]}"; do
  case $step in  # run 17's steps, or run 17b's (the same with the suffix 17b)
    draws|graft|eval|judge) run=run17 ;;
    draws17b|graft17b|eval17b|judge17b) run=run17b; step=${step%17b} ;;
    *) echo "unknown step $step (draws, graft, eval, judge, each also with the suffix 17b)" >&2; exit 2 ;;
  esac
  case $step in
    draws)  # configs/lite0_run17_phase3.yaml, configs/lite0_run17b_phase3.yaml
      scripts/phase3_draws.sh "$run" "$run14" "$run2" "configs/lite0_${run}_phase3.yaml" ;;
    graft)
      [ -f "out/lite0_$run.safetensors" ] || \
        trufor train graft-confidence "$run14" "out/lite0_${run}_uncalibrated.safetensors" -o "out/lite0_$run.safetensors" ;;
    eval)
      [ -f out/reports/synthetic_holdout_run14/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh "$run14" run14
      NO_WEB=1 scripts/evaluate_bundled.sh "out/lite0_$run.safetensors" "$run" ;;
    judge)
      python benchmarks/same_outputs.py run14 "$run" --sets "${sets[@]}" || true  # rule (0): read its last line
      python benchmarks/confidence_quality.py run14 "$run" --sets "${sets[@]}" ;;
  esac
done
