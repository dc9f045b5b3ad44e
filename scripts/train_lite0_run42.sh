#!/usr/bin/env bash
# Run 42 (CPU, 2 cores): run 39 drawn again, and 39h with its frozen-BatchNorm half averaged over the two draws.
# Why: run 39 (run 28's 600 image-level steps from run 27's network with every BatchNorm layer frozen) found a quarter
# more of the real fakes in its maps than its control run 28 (mean F1 best of the 18 masked real fakes 0.454 -> 0.573,
# share 0.991), the largest map gain measured here, on one draw; its average with run 27 (39h) kept most of it (0.518)
# and held clauses (2)-(4) of run 33's rule, but not (1): its score ranked the re-saved judge (e) and the leak-free real
# fakes no better than run 27 (0.603, 0.731), and the seed alone moves a real-life AUC by up to 0.18 (runs 9-10). Weight
# averages of draws are the steps that gained on the real-life judges before (runs 22, 26, 27, 33).
# Steps, and the rule, fixed before any figure of run 42:
#   phase2   trufor train configs/lite0_run42_phase2.yaml: run 39's config with seeds 420/421 (training 420); export
#            (variant trufor_lite0_top, half precision, run 27's confidence decoder and head carried)
#   soup     42h = run 27's file with its encoder and localization decoder the weighted average of run 27's, 39's and
#            42's, coefficients 2, 1, 1 (`trufor train average --parts backbone,decode_head --coefficients 2,1,1`): run
#            27 weighs as much as the two frozen-BatchNorm draws together, as in 39h; all three share run 27's BatchNorm
#            statistics bit for bit; run 27's confidence decoder and head kept
#   top      42h calibrated by group on run 27's groups (scripts/calibrate_bundled.sh ... calib_groups_camera_real.txt)
#   eval     REAL_ONLY=1 scripts/evaluate_bundled.sh for 42h: the held-out part (c), the calibration part (d), the
#            re-saved judge (e); beside, 42 alone (its uncalibrated export: rankings and maps only) on the same sets
#   judge    42h against run 27, the shipped file (paired bootstraps, 4000 resamples, seed 0), run 33's rule: it passes
#            when (1) it is ahead of run 27 with share >= 0.95 on at least one of: the (e) AUC of the 41 re-saved fakes
#                against the 36 re-saved originals; the (c+d) leak-free pooled AUC against the IMD2020 originals (the
#                24 fakes and 22 originals whose pair partner is not on the training side, out/lists/imd2020_pairs.csv);
#            (2) it is not behind (share >= 0.05) on any of those two, on the (e) mean F1 best of the 18 masked fakes,
#                the (c+d) leak-free pooled AUC against all authentic photos, the (c+d) mean F1 best of the 18 masked
#                real fakes, the (a) synthetic F1 best, nor the (a) synthetic detection AUC (the synth step, run only
#                if it holds the rest);
#            (3) its FPR at 0.5 on the IMD2020 val originals and on the held-out camera originals are each <= 0.12;
#            (4) its confidence map's mean error AUC over the three sets (benchmarks/confidence_quality.py) is >= 0.90
#                (on (c) and (d) in the judge step, with the synthetic set in the synth step).
#            If it passes it is shipped (scripts/ship_bundled.py), then CASIA v1 is measured once for it (casia); if
#            not, run 27 stays. Reported beside, not judged: the pooled (c+d) figures, 42h against 39h (what the second
#            draw added), and 42 alone against run 28 (the control of run 39) and against 39 on the maps: the frozen-
#            BatchNorm map gain holds in a second draw if 42 is ahead of run 28 on the (c+d) mean F1 best of the 18
#            masked real fakes with share >= 0.95.
# Not passed (docs/MODEL_CARD.md, run 42): 42h fails (1): (e) AUC 0.618 -> 0.604 (share 0.403), leak-free vs IMD2020
# originals 0.784 -> 0.735 (0.202); and (3): FPR at 0.5 on the IMD2020 val originals 0.200, held-out camera 0.150. (2)
# holds on the real-life figures (lowest share 0.202; no synth step), (4) on (c) and (d) (mean error AUC 0.945). Run 27
# stays; no casia step. Beside: the frozen-BatchNorm map gain did not hold in the second draw: 42 alone against run 28,
# mean F1 best of the 18 masked real fakes 0.454 -> 0.504 (share 0.733; run 39: 0.573), against all authentic 0.933 ->
# 0.888 (0.049), digicam 0.978 -> 0.921 ([-0.119, -0.011]).
# Rerun to resume (every step skips what exists; every eval caches its outputs).
#   scripts/train_lite0_run42.sh [phase2] [export] [soup] [top] [eval] [judge] [synth] [casia]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(phase2 export soup top eval judge)
data=${TRUFOR_SHARED:-../shared}/data
mkdir -p out
run27=out/run27_bundled.safetensors  # the shipped file of run 27, the config's init
[ -f $run27 ] || git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27
[ -f out/lists/imd2020_pairs.csv ] || python scripts/imd2020_pairs.py out/lists
dir=out/train/lite0_run42_phase2
for step in "${steps[@]}"; do
  case $step in
    phase2)
      [ -f out/lists/imd2020_derived_list.txt ] || python scripts/imd2020_pairs.py out/lists
      [ -f $dir/last.pt ] && grep -q 'finished' $dir/train.log || \
        trufor train configs/lite0_run42_phase2.yaml train.progress=false ;;
    export)
      [ -f out/lite0_run42_uncalibrated.safetensors ] || trufor train export $dir/last.pt \
        out/lite0_run42_uncalibrated.safetensors --half --allow-phase2 ;;
    soup)
      [ -f out/lite0_run39_uncalibrated.safetensors ] || scripts/train_lite0_run39.sh phase2 export
      [ -f out/lite0_run42h_uncalibrated.safetensors ] || trufor train average $run27 \
        out/lite0_run39_uncalibrated.safetensors out/lite0_run42_uncalibrated.safetensors --parts backbone,decode_head \
        --coefficients 2,1,1 -o out/lite0_run42h_uncalibrated.safetensors ;;
    top)
      [ -f out/lite0_run42h.safetensors ] || scripts/calibrate_bundled.sh out/lite0_run42h_uncalibrated.safetensors \
        out/lite0_run42h.safetensors out/lists/calib_groups_camera_real.txt ;;
    eval)
      [ -f out/reports/judge_web_run27/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh $run27 run27
      REAL_ONLY=1 scripts/evaluate_bundled.sh out/lite0_run42h.safetensors run42h
      REAL_ONLY=1 scripts/evaluate_bundled.sh out/lite0_run42_uncalibrated.safetensors run42 ;;
    judge)
      python benchmarks/compare_models.py run27 run39h run42h
      echo "=== run42h against run27"
      python benchmarks/paired_bootstrap.py run27 run42h --sets judge_web
      python benchmarks/paired_bootstrap.py run27 run42h --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      python benchmarks/paired_bootstrap.py run27 run42h --sets heldout calibpart  # beside, not judged
      python benchmarks/confidence_quality.py run27 run42h --sets heldout calibpart
      echo "=== beside: 42h against 39h"
      python benchmarks/paired_bootstrap.py run39h run42h --sets judge_web
      python benchmarks/paired_bootstrap.py run39h run42h --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      echo "=== beside: 42 alone against run 28 (run 39's control) and against 39 (maps and rankings)"
      for ref in run28 run39; do
        python benchmarks/paired_bootstrap.py $ref run42 --sets heldout calibpart
        python benchmarks/paired_bootstrap.py $ref run42 --sets judge_web
      done ;;
    synth)  # only if 42h holds (1), (3) and the real-life part of (2)
      NO_WEB=1 scripts/evaluate_bundled.sh out/lite0_run42h.safetensors run42h
      python benchmarks/paired_bootstrap.py run27 run42h --sets synthetic_holdout
      python benchmarks/confidence_quality.py run27 run42h --sets heldout calibpart synthetic_holdout ;;
    casia)  # CASIA v1 once, if 42h is shipped
      trufor eval casia1 --root "$data/benchmarks/casia1" -o out/reports/casia1_run42h \
        --weights out/lite0_run42h.safetensors -q ;;
    *) echo "unknown step $step (phase2, export, soup, top, eval, judge, synth, casia)" >&2
       exit 2 ;;
  esac
done
