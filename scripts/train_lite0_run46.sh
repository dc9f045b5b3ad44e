#!/usr/bin/env bash
# Run 46 (CPU, 2 cores): no training. The shipped file's map read for regions, not pixels: the forged-minus-pristine
# logit averaged over a W x W square around each pixel before the map's-top detector takes its top 0.5 %
# (benchmarks/top_readings.py, from the maps the evaluations cached: no network runs for the screen).
# Why: since run 21 the score is a x t + b, t the mean of the map's top 0.5 % of pixels wherever they are. An edit is a
# region: the network fires over a connected area, while on an authentic photo the strongest pixels are scattered over
# texture, edges and highlights. The top 0.5 % cannot tell the two apart when their levels match; a mean over a square
# can (one strong pixel counts for less than a region that fires as a whole). Runs 37 and 45 averaged readings of the
# same pixel (views) and lowered the top; this averages neighbouring pixels of one reading, another thing.
# Steps, and the rule, fixed before any windowed figure existed (the tool's check with W = 1 reproduced run 27's scores
# of the judge (e) to 1e-7, which is run 27's known figure):
#   select   W chosen on the held-out synthetic set at web scale (a2: 300 images of held-out photos edited at web scale,
#            a set models may be chosen on), from W in {1, 9, 17, 33, 65} pixels: the W with the highest (a2) detection
#            AUC (fakes against its authentic images; ties to the smaller W). If W = 1 wins there is no candidate.
#   judge    run46 (the chosen W over run 27's cached maps) against run 27 (paired bootstraps, 4000 resamples, seed 0),
#            run 33's rule: (1) ahead with share >= 0.95 on at least one of: the (e) AUC of the 41 re-saved fakes
#            against the 36 re-saved originals; the (c+d) leak-free pooled AUC against the IMD2020 originals
#            (out/lists/imd2020_pairs.csv); (2) not behind (share >= 0.05) on any of those two, nor on the (c+d)
#            leak-free pooled AUC against all authentic photos (the maps, hence the F1 figures, are run 27's).
#   then, only if (1) and (2) hold: the window becomes an option of the map's-top head (`trufor train top-head
#            --window W`, in the model, its weight files and its ONNX graph), run 27's file gets it and is calibrated
#            again on run 27's groups; its own evaluation must give back the screen's figures, and (2) must hold on
#            the (a) synthetic F1 best and detection AUC; (3) its FPR at 0.5 on the IMD2020 val originals and on the
#            held-out camera originals each <= 0.12; (4) the confidence map is run 27's (unchanged). It is then
#            shipped, and CASIA v1 is measured once for it.
# Reported beside, not judged: the pooled (c+d) figures with every image, every W of the select step on the judges.
# Not passed (docs/MODEL_CARD.md, run 46): select chose W = 17 ((a2) detection AUC 0.799 / 0.800 / 0.801 / 0.793 /
# 0.732 for W = 1 / 9 / 17 / 33 / 65); run46 fails (1): (e) AUC 0.618 -> 0.617 (share 0.435), leak-free vs IMD2020
# originals 0.784 -> 0.784 (0.475); (2) holds (leak-free vs all authentic 0.954 -> 0.955, 0.715). Nothing built; run 27
# stays. Beside: W = 33 and 65 lower (e) to 0.603 and 0.584 and W = 65 the leak-free figures (0.748; all authentic
# 0.926, share 0.090): the top 0.5 % is already a region, and a wider square only blurs it into its surroundings.
# Rerun to resume:
#   scripts/train_lite0_run46.sh [select] [judge]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(select judge)
mkdir -p out
run27=out/run27_bundled.safetensors  # the shipped file of run 27
[ -f $run27 ] || git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27
[ -f out/lists/imd2020_pairs.csv ] || python scripts/imd2020_pairs.py out/lists
windows=(1 9 17 33 65)
for step in "${steps[@]}"; do
  case $step in
    select)
      [ -f out/reports/synthetic_web_holdout_run27/per_image.csv ] || WEB_ONLY=1 scripts/evaluate_bundled.sh $run27 run27
      for w in "${windows[@]}"; do
        python benchmarks/top_readings.py run27 run46w$w --window "$w" --weights $run27 --sets synthetic_web_holdout
      done ;;
    judge)
      w=${W:?name the window chosen by the select step: W=...}
      [ -f out/reports/judge_web_run27/per_image.csv ] || REAL_ONLY=1 scripts/evaluate_bundled.sh $run27 run27
      python benchmarks/top_readings.py run27 run46 --window "$w" --weights $run27
      python benchmarks/paired_bootstrap.py run27 run46 --sets judge_web
      python benchmarks/paired_bootstrap.py run27 run46 --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      echo "=== beside, not judged: every image of (c+d)"
      python benchmarks/paired_bootstrap.py run27 run46 --sets heldout calibpart ;;
    *) echo "unknown step $step (select, judge)" >&2
       exit 2 ;;
  esac
done
