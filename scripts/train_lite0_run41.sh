#!/usr/bin/env bash
# Run 41 (CPU, 2 cores): no training. The integrity score read as a contrast: the map's top 0.5 % measured from the
# image's own median (`trufor train top-head --reference median`, TruForConfig.detection_top_reference).
# Why: since run 21 the score is `a x t + b`, t the mean forged-minus-pristine logit over the map's top 0.5 % of pixels.
# That is an absolute level: a photo whose whole map sits higher (processed, re-compressed or scanned all over, a
# texture the network reads as edited everywhere) scores as high as a photo with one edited region, though only the
# second holds local evidence. The issue asks that heavy JPEG alone never be evidence; since run 28 every candidate's
# score lost against the real-life originals while its maps gained (run 39: maps +0.12 F1 best against its control, the
# score's leak-free AUC against the IMD2020 originals 0.784 -> 0.725). The contrast t - median(z) keeps what a local
# edit adds and drops what is raised everywhere; it is the same network and the same map, only the statistic changes.
# Arms (no network trained):
#   run41a  run 27's file (the shipped network, its Noiseprint++, decoders and confidence decoder) with the contrast
#   run41b  run 39h's uncalibrated file (run 27 averaged with run 39; held clauses (2)-(4) of run 39's judging, failed
#           (1)) with the contrast
#   run41c  beside, not a candidate (its confidence decoder fails clause (4), run 39): run 39's file with the contrast
# Steps, and the rule, fixed before any figure of run 41 (the median of ten cached maps was printed while checking that
# the cached maps reproduce run 27's score; no AUC, F1 or rate of any contrast score was computed before this):
#   top      `trufor train top-head WEIGHTS --reference median` (a = 1, b = 0), then calibrated by group on run 27's
#            groups (scripts/calibrate_bundled.sh ... calib_groups_camera_real.txt)
#   eval     REAL_ONLY=1 scripts/evaluate_bundled.sh: the held-out part (c), the calibration part (d), the real-life
#            judge re-saved alike (e)
#   judge    against run 27, the shipped file (paired bootstraps, 4000 resamples, seed 0), run 33's rule: it passes when
#            (1) it is ahead of run 27 with share >= 0.95 on at least one of: the (e) AUC of the 41 re-saved fakes
#                against the 36 re-saved originals; the (c+d) leak-free pooled AUC against the IMD2020 originals (the
#                24 fakes and 22 originals whose pair partner is not on the training side, out/lists/imd2020_pairs.csv);
#            (2) it is not behind (share >= 0.05) on any of those two, on the (e) mean F1 best of the 18 masked fakes,
#                the (c+d) leak-free pooled AUC against all authentic photos, the (c+d) mean F1 best of the 18 masked
#                real fakes, the (a) synthetic F1 best, nor the (a) synthetic detection AUC (the synth step, run only
#                for an arm that holds the rest);
#            (3) its FPR at 0.5 on the IMD2020 val originals and on the held-out camera originals are each <= 0.12;
#            (4) its confidence map's mean error AUC over the three sets (benchmarks/confidence_quality.py) is >= 0.90
#                (the contrast changes the score only: 41a's maps are run 27's, 41b's are 39h's, measured 0.943 and
#                0.932 before; the step recomputes it on the synthetic set too).
#            One that passes is shipped (scripts/ship_bundled.py), then CASIA v1 is measured once for it (casia); if
#            both pass, the one ahead on the (e) AUC. If neither passes, run 27 stays. Reported beside, not judged:
#            the pooled (c+d) figures with every image, run41c, and 41b against run 39h (what the contrast did to the
#            same network).
# Not passed, either arm (docs/MODEL_CARD.md, run 41): both fail (1): (e) AUC 0.618 -> 0.588 (run41a, share 0.293) /
# 0.583 (run41b, 0.300), leak-free vs IMD2020 originals 0.784 -> 0.678 (0.046) / 0.706 (0.107); run41a is also behind
# under (2) on the leak-free AUC against the IMD2020 originals (share 0.046 < 0.05). No synth or casia step; run41c
# (beside) not run: the contrast lowered the real-life rankings on both networks. Run 27 stays; `--reference median`
# stays an option. Beside: 41b against run 39h (the same network): (e) 0.603 -> 0.583 (0.322), leak-free 0.731 -> 0.706
# (0.349).
# Rerun to resume (every step skips what exists; every eval caches its outputs).
#   scripts/train_lite0_run41.sh [top] [eval] [beside] [judge] [synth] [casia]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(top eval judge)
data=${TRUFOR_SHARED:-../shared}/data
mkdir -p out
run27=out/run27_bundled.safetensors  # the shipped file of run 27
[ -f $run27 ] || git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27
[ -f out/lists/imd2020_pairs.csv ] || python scripts/imd2020_pairs.py out/lists
source_of() {  # the network each arm reads
  case $1 in
    run41a) echo $run27 ;;
    run41b) echo out/lite0_run39h_uncalibrated.safetensors ;;
    run41c) echo out/lite0_run39_uncalibrated.safetensors ;;
  esac
}
need() {  # run 39's files, rebuilt by its own script where missing
  [ -f "$(source_of "$1")" ] || scripts/train_lite0_run39.sh phase2 export soup
}
calibrated() {
  local arm=$1 src
  src=$(source_of "$arm")
  need "$arm"
  [ -f out/lite0_${arm}_uncalibrated.safetensors ] || trufor train top-head "$src" --reference median \
    -o out/lite0_${arm}_uncalibrated.safetensors
  [ -f out/lite0_$arm.safetensors ] || scripts/calibrate_bundled.sh out/lite0_${arm}_uncalibrated.safetensors \
    out/lite0_$arm.safetensors out/lists/calib_groups_camera_real.txt
}
for step in "${steps[@]}"; do
  case $step in
    top)
      for arm in run41a run41b; do calibrated $arm; done ;;
    eval)
      [ -f out/reports/judge_web_run27/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh $run27 run27
      for arm in run41a run41b; do REAL_ONLY=1 scripts/evaluate_bundled.sh out/lite0_$arm.safetensors $arm; done ;;
    beside)  # run41c, not a candidate
      calibrated run41c
      REAL_ONLY=1 scripts/evaluate_bundled.sh out/lite0_run41c.safetensors run41c ;;
    judge)
      arms=(run41a run41b)
      [ -f out/reports/judge_web_run41c/per_image.csv ] && arms+=(run41c)
      python benchmarks/compare_models.py run27 run39h "${arms[@]}"
      for arm in "${arms[@]}"; do
        echo "=== $arm against run27"
        python benchmarks/paired_bootstrap.py run27 $arm --sets judge_web
        python benchmarks/paired_bootstrap.py run27 $arm --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
          --leak-free
        python benchmarks/paired_bootstrap.py run27 $arm --sets heldout calibpart  # beside, not judged
      done
      echo "=== beside: 41b against run 39h (the same network read by the map's top)"
      python benchmarks/paired_bootstrap.py run39h run41b --sets judge_web
      python benchmarks/paired_bootstrap.py run39h run41b --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      [ ! -f out/reports/judge_web_run41c/per_image.csv ] || {
        echo "=== beside: 41c against run 39"
        python benchmarks/paired_bootstrap.py run39 run41c --sets judge_web
        python benchmarks/paired_bootstrap.py run39 run41c --sets heldout calibpart \
          --pairs out/lists/imd2020_pairs.csv --leak-free
      } ;;
    synth)  # only for an arm that holds (1), (3) and the real-life part of (2): ARMS="run41a" ... synth
      for arm in ${ARMS:?name the arms that passed the real-life clauses}; do
        NO_WEB=1 scripts/evaluate_bundled.sh out/lite0_$arm.safetensors "$arm"
        python benchmarks/paired_bootstrap.py run27 "$arm" --sets synthetic_holdout
        python benchmarks/confidence_quality.py run27 "$arm" --sets heldout calibpart synthetic_holdout
      done ;;
    casia)  # CASIA v1 once, for the file shipped: ARM=run41a or ARM=run41b
      arm=${ARM:?name the arm shipped}
      trufor eval casia1 --root "$data/benchmarks/casia1" -o out/reports/casia1_$arm \
        --weights out/lite0_$arm.safetensors -q ;;
    *) echo "unknown step $step (top, eval, beside, judge, synth, casia)" >&2
       exit 2 ;;
  esac
done
