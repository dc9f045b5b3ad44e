#!/usr/bin/env bash
# Run 22 (CPU, 2 cores): weight averages of the phase-2 networks trained with the image-level loss, read by the
# top-fraction detector. Run 21: on run 20's network the top-fraction detector ranked the held-out real fakes above
# the IMD2020 originals at 0.743 (run 17: 0.617) but not the calibration part's (0.747 vs 0.745), and it flagged 3 of
# 20 held-out camera photos; run 21b (the training side's photos as whole images too) flagged none but lost on the
# synthetic set and on the calibration part. Both are 600-step fine-tunes of run 14's network with the same
# image-level loss, other data and seeds: averaged (a model soup, as run 18's S1), each one's draw should weigh less.
# No training. Steps, and the rules, fixed before any figure of run 22:
#   soups    22a = the uniform average of run 20's and run 21's phase-2 networks; 22b = the uniform average of run
#            20's, run 20b's (run 20 continued 600 steps) and run 21's (trufor train average, float32)
#   top      each with the top-fraction detector (fraction 0.005), calibrated by group (scripts/calibrate_bundled.sh)
#   eval     NO_WEB=1 scripts/evaluate_bundled.sh for both (held-out sets and the calibration part)
#   judge    against run 17, the shipped file, with run 21's rule unchanged (paired bootstraps, 4000 resamples,
#            seed 0, on the 41 real fakes of the held-out and calibration parts): a candidate passes when
#            (1) it is ahead of run 17 with share >= 0.95 on at least one of: the (c+d) mean F1 best of the 18 masked
#                real fakes, the (c+d) pooled AUC against the IMD2020 originals, the (c+d) pooled AUC against all
#                authentic photos;
#            (2) it is not behind (share >= 0.05) on any of those three, on (a) synthetic F1 best, nor on the (a)
#                detection AUC;
#            (3) its FPR at 0.5 on the IMD2020 val originals and on the held-out camera originals are each <= 0.12.
#            If both pass, the one with the higher (c+d) pooled AUC against all authentic photos is shipped
#            (scripts/ship_bundled.py), then CASIA v1 is measured once for it (casia). If neither passes, run 17 stays.
# Neither passed (docs/MODEL_CARD.md, run 22): both are ahead on the (c+d) pooled AUC against the IMD2020 originals
# (share 0.98), but 22a is behind on the synthetic detection AUC (share 0.04) and 22b flags 3 of 20 held-out camera
# originals at 0.5 (0.150). Run 17 stays.
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run22.sh [soups] [top] [eval] [judge] [casia NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(soups top eval judge)
run17=out/lite0_run17.safetensors  # the shipped file of run 17
[ -f $run17 ] || git show 028a6b7:src/trufor/bundled/trufor_lite0.safetensors > $run17
net() {  # net RUN: the exported phase-2 network of out/train/RUN
  [ -f "out/$1.safetensors" ] || trufor train export "out/train/$1/last.pt" "out/$1.safetensors" --half --allow-phase2
  echo "out/$1.safetensors"
}
for ((i = 0; i < ${#steps[@]}; i++)); do
  step=${steps[$i]}
  case $step in
    soups)
      a=$(net lite0_run20_phase2); b=$(net lite0_run20b_phase2); c=$(net lite0_run21_phase2)
      [ -f out/lite0_run22a_soup.safetensors ] || trufor train average "$a" "$c" -o out/lite0_run22a_soup.safetensors --fp32
      [ -f out/lite0_run22b_soup.safetensors ] || \
        trufor train average "$a" "$b" "$c" -o out/lite0_run22b_soup.safetensors --fp32 ;;
    top)
      for name in run22a run22b; do
        [ -f "out/lite0_${name}_uncalibrated.safetensors" ] || trufor train top-head "out/lite0_${name}_soup.safetensors" \
          --fraction 0.005 -o "out/lite0_${name}_uncalibrated.safetensors"
        [ -f "out/lite0_$name.safetensors" ] || \
          scripts/calibrate_bundled.sh "out/lite0_${name}_uncalibrated.safetensors" "out/lite0_$name.safetensors"
      done ;;
    eval)
      [ -f out/reports/synthetic_holdout_run17/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh "$run17" run17
      for name in run22a run22b; do
        NO_WEB=1 scripts/evaluate_bundled.sh "out/lite0_$name.safetensors" $name
      done ;;
    judge)
      for name in run22a run22b; do
        [ -f "out/reports/calibpart_$name/per_image.csv" ] || continue
        python benchmarks/compare_models.py run17 $name
        python benchmarks/paired_bootstrap.py run17 $name --sets heldout calibpart
        python benchmarks/paired_bootstrap.py run17 $name --sets synthetic_holdout
      done ;;
    casia)  # CASIA v1 once, for the candidate shipped: casia run22a or casia run22b
      i=$((i + 1)); name=${steps[$i]:?casia needs the name of the shipped candidate}
      trufor eval casia1 --root "${TRUFOR_SHARED:-../shared}/data/benchmarks/casia1" -o "out/reports/casia1_$name" \
        --weights "out/lite0_$name.safetensors" -q ;;
    *) echo "unknown step $step (soups, top, eval, judge, casia NAME)" >&2
       exit 2 ;;
  esac
done
