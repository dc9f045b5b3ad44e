#!/usr/bin/env bash
# Run 26 (CPU, 2 cores): a weight average of four image-level phase-2 networks, read by the map's top, with a
# confidence decoder fitted to that average. Run 22a (the average of runs 20's and 21's phase-2 networks, top-fraction
# detector) was the first candidate ahead of the shipped file beyond the noise on a real-life figure (pooled AUC of
# the 41 real fakes against the IMD2020 originals 0.616 -> 0.720, share 0.98), but behind on the synthetic detection
# AUC (share 0.04), and its confidence decoder was still run 14's (mean error AUC over three sets 0.594 against run
# 17's 0.948, measured this session before any figure of run 26). Here: one more image-level fine-tune with new seeds
# and the data of runs 21 and 23 together, averaged with runs 20, 21 and 23 (four draws of one recipe family: each
# one's noise should weigh less), and run 25's phase 3 on that average for its confidence decoder.
# Steps, and the rule, fixed before any figure of run 26:
#   phase2   trufor train configs/lite0_run26_phase2.yaml (600 steps from run 14's network, seeds 190/191)
#   soup     26 = the uniform average of the phase-2 networks of runs 20, 21, 23 and 26 (trufor train average, fp32)
#   draws    scripts/phase3_draws.sh run26 SOUP run17 configs/lite0_run25_phase3.yaml (run 25's phase 3: a detection
#            decoder and head, and the confidence decoder on its own target; three draws averaged, no draw chosen)
#   top      trufor train top-head (fraction 0.005: the detection decoder and head of the draws are dropped, the
#            confidence decoder kept), calibrated by group (scripts/calibrate_bundled.sh)
#   eval     NO_WEB=1 scripts/evaluate_bundled.sh (held-out sets and the calibration part)
#   judge    against run 17, the shipped file, with run 22's rule (paired bootstraps, 4000 resamples, seed 0, on the 41
#            real fakes of the held-out and calibration parts); it passes when
#            (1) it is ahead of run 17 with share >= 0.95 on at least one of: the (c+d) mean F1 best of the 18 masked
#                real fakes, the (c+d) pooled AUC against the IMD2020 originals, the (c+d) pooled AUC against all
#                authentic photos;
#            (2) it is not behind (share >= 0.05) on any of those three, on (a) synthetic F1 best, nor on the (a)
#                detection AUC;
#            (3) its FPR at 0.5 on the IMD2020 val originals and on the held-out camera originals are each <= 0.12;
#            (4) its confidence map's mean error AUC over the three sets (benchmarks/confidence_quality.py) is >= 0.90.
#                (Run 25's clause compared it with run 17's by bootstrap; but each confidence map is judged on the
#                errors of its own localization map, and a map with fewer wrong pixels leaves harder ones to find,
#                so the comparison is confounded (card, run 25). 0.90 is a floor that says the map is of run 17's
#                kind (0.948; run 25 0.937) and not of run 14's (0.594 for run 22a, which kept run 14's decoder).)
#            If it passes it is shipped (scripts/ship_bundled.py), then CASIA v1 is measured once (casia). If not,
#            run 17 stays. Reported beside, not judged: the same bootstraps against run 22a.
# Not passed (docs/MODEL_CARD.md, run 26): (1) holds (pooled AUC vs IMD2020 originals 0.616 -> 0.707, share 0.954),
# (2) holds (synthetic detection share 0.08), (4) holds (0.946); (3) does not: 3 of 20 held-out camera originals above
# 0.5 (FPR 0.150). Run 17 stays.
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run26.sh [phase2] [soup] [draws] [top] [eval] [judge] [casia]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(phase2 soup draws top eval judge)
data=${TRUFOR_SHARED:-../shared}/data
mkdir -p out
run14=out/run14_bundled.safetensors  # the shipped file of run 14 (its network is 12d's), the config's init
[ -f $run14 ] || git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14
run17=out/lite0_run17.safetensors  # the shipped file of run 17
[ -f $run17 ] || git show 028a6b7:src/trufor/bundled/trufor_lite0.safetensors > $run17
soup=out/lite0_run26_soup.safetensors
net() {  # net RUN: the exported phase-2 network of out/train/RUN
  [ -f "out/$1.safetensors" ] || trufor train export "out/train/$1/last.pt" "out/$1.safetensors" --half --allow-phase2
  echo "out/$1.safetensors"
}
sets=(heldout calibpart synthetic_holdout)
for step in "${steps[@]}"; do
  case $step in
    phase2)
      [ -f out/lists/imd2020_derived_list.txt ] || python scripts/imd2020_pairs.py out/lists
      dir=out/train/lite0_run26_phase2
      [ -f $dir/last.pt ] && grep -q 'finished' $dir/train.log || \
        trufor train configs/lite0_run26_phase2.yaml train.progress=false ;;
    soup)
      [ -f out/train/lite0_run20_phase2/last.pt ] || scripts/train_lite0_run20.sh phase2
      [ -f out/train/lite0_run21_phase2/last.pt ] || scripts/train_lite0_run21.sh phase2
      [ -f out/train/lite0_run23_phase2/last.pt ] || scripts/train_lite0_run23.sh phase2
      a=$(net lite0_run20_phase2); b=$(net lite0_run21_phase2); c=$(net lite0_run23_phase2); d=$(net lite0_run26_phase2)
      [ -f $soup ] || trufor train average "$a" "$b" "$c" "$d" -o $soup --fp32 ;;
    draws)
      scripts/phase3_draws.sh run26 $soup $run17 configs/lite0_run25_phase3.yaml ;;
    top)
      [ -f out/lite0_run26_top_uncalibrated.safetensors ] || trufor train top-head \
        out/lite0_run26_uncalibrated.safetensors --fraction 0.005 -o out/lite0_run26_top_uncalibrated.safetensors
      [ -f out/lite0_run26.safetensors ] || \
        scripts/calibrate_bundled.sh out/lite0_run26_top_uncalibrated.safetensors out/lite0_run26.safetensors ;;
    eval)
      [ -f out/reports/synthetic_holdout_run17/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh "$run17" run17
      NO_WEB=1 scripts/evaluate_bundled.sh out/lite0_run26.safetensors run26 ;;
    judge)
      python benchmarks/compare_models.py run17 run22a run26
      python benchmarks/paired_bootstrap.py run17 run26 --sets heldout calibpart
      python benchmarks/paired_bootstrap.py run17 run26 --sets synthetic_holdout
      python benchmarks/confidence_quality.py run17 run26 --sets "${sets[@]}"
      python benchmarks/paired_bootstrap.py run22a run26 --sets heldout calibpart  # beside the rule
      python benchmarks/paired_bootstrap.py run22a run26 --sets synthetic_holdout ;;
    casia)  # CASIA v1 once, for the file shipped
      trufor eval casia1 --root "$data/benchmarks/casia1" -o out/reports/casia1_run26 \
        --weights out/lite0_run26.safetensors -q ;;
    *) echo "unknown step $step (phase2, soup, draws, top, eval, judge, casia)" >&2
       exit 2 ;;
  esac
done
