#!/usr/bin/env bash
# Run 11 (CPU, 2 cores): the real-life photos of the training part weighted up in phase 2, and phase 3 as the
# average of three draws (run 10: one phase-3 draw is a lottery), each step fixed before any figure was read:
#   phase2   configs/lite0_run11_phase2.yaml from run 3.1 (600 steps, ~15 min); the model kept is its last step
#   draws    run 3's phase 3 (configs/lite0_run10_phase3.yaml) on that network, from run 2's heads (where run 3's
#            phase 3 started), seeds 33/23, 34/24, 35/25 (d1-d3), each exported uncalibrated (~5.5 min each)
#   average  the weight average of d1-d3 (the candidate: no draw is chosen), calibrated by group
#   eval     the candidate on the held-out sets and the calibration part (scripts/evaluate_bundled.sh)
#   spread   each draw scored on the candidate's reports (benchmarks/head_variants.py): the spread of the recipe
# The candidate is judged against run 3.1 on the pooled real-life ranking (held-out + calibration parts, 41 real
# fakes: rows (c+d) of benchmarks/compare_models.py) beside (a), (a2) and (b), as docs/MODEL_CARD.md declares.
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run11.sh [phase2] [draws] [average] [eval] [spread]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(phase2 draws average eval spread)
bundled=src/trufor/bundled/trufor_lite0.safetensors
run2=out/run2_bundled.safetensors
[ -f $run2 ] || git show 6f67c4d:$bundled > $run2
trunk=$PWD/out/train/lite0_run11_phase2/last.pt
draws=(d1 d2 d3)
for step in "${steps[@]}"; do
  case $step in
    phase2)
      trufor train configs/lite0_run11_phase2.yaml train.progress=false ;;
    draws)
      scripts/phase3_draws.sh run11 "$trunk" "$run2" ;;
    average)
      [ -f out/lite0_run11_uncalibrated.safetensors ] || trufor train average \
        out/lite0_run11d{1,2,3}_uncalibrated.safetensors -o out/lite0_run11_uncalibrated.safetensors
      [ -f out/lite0_run11.safetensors ] || \
        scripts/calibrate_bundled.sh out/lite0_run11_uncalibrated.safetensors out/lite0_run11.safetensors ;;
    eval)
      scripts/evaluate_bundled.sh out/lite0_run11.safetensors run11 ;;
    spread)
      variants=()
      for d in "${draws[@]}"; do variants+=("run11${d}=out/lite0_run11${d}_uncalibrated.safetensors"); done
      python benchmarks/head_variants.py out/lite0_run11.safetensors run11 "${variants[@]}" \
        --sets calibpart heldout synthetic_holdout synthetic_web_holdout ;;
    *) echo "unknown step $step (phase2, draws, average, eval, spread)" >&2; exit 2 ;;
  esac
done
