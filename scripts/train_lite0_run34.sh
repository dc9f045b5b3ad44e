#!/usr/bin/env bash
# Run 34 (CPU, 2 cores): a fresh image-level ingredient with content-matched negatives, averaged into run 27's network.
# Why: the maps' false alarms on real-life originals sit on heads, faces and animals (model card, limits), the content
# the IMD2020 fakes edit, and every image-level run since 28 moved the real-life judges within their noise (runs 28-33).
# 18 of the 25 IMD2020 pairs with both members on the training side are the original edited in place (same geometry):
# crops of those originals drawn where their fake was edited (the fake's derived mask as a crop region, `focus: true`)
# show the network the very content a real fake changed, unedited and pristine. No new images: the originals were
# whole-image negatives and random crops before; what is new is where their crops are drawn.
# Steps, and the rule, fixed before any figure of run 34:
#   lists    python scripts/imd2020_pairs.py out/lists --from-csv (out/lists/imd2020_matched_originals.txt)
#   phase2   trufor train configs/lite0_run34a_phase2.yaml: run 31c's config (run 27b's: 600 steps from run 14's
#            network, seeds 310/311) plus the matched originals (repeat 12, as the masked fakes); export (half)
#   soup     34 = run 27's file with its encoder and localization decoder replaced by the uniform average of run 27's
#            and 34a's (`trufor train average --parts backbone,decode_head`); run 27's Noiseprint++, confidence
#            decoder and map's-top head are kept (run 32's recipe, with 34a for 32a)
#   top      calibrated by group on run 27's groups (scripts/calibrate_bundled.sh ... calib_groups_camera_real.txt)
#   eval     NO_WEB=1 scripts/evaluate_bundled.sh (held-out sets, the calibration part and (e)), then (a2) beside
#   judge    against run 27, the shipped file, with run 32's rule (paired bootstraps, 4000 resamples, seed 0); it passes
#            when
#            (1) it is ahead of run 27 with share >= 0.95 on at least one of: the (e) AUC of the 41 re-saved fakes
#                against the 36 re-saved originals; the (c+d) leak-free pooled AUC against the IMD2020 originals (the
#                24 fakes and 22 originals whose pair partner is not on the training side, out/lists/imd2020_pairs.csv);
#            (2) it is not behind (share >= 0.05) on any of those two, on the (e) mean F1 best of the 18 masked fakes,
#                the (c+d) leak-free pooled AUC against all authentic photos, the (c+d) mean F1 best of the 18 masked
#                real fakes, the (a) synthetic F1 best, nor the (a) synthetic detection AUC;
#            (3) its FPR at 0.5 on the IMD2020 val originals and on the held-out camera originals are each <= 0.12;
#            (4) its confidence map's mean error AUC over the three sets (benchmarks/confidence_quality.py) is >= 0.90.
#            If it passes it is shipped (scripts/ship_bundled.py), then CASIA v1 is measured once (casia). If not,
#            run 27 stays. Reported beside, not judged: the pooled (c+d) figures with every image, and (a2), the
#            held-out synthetic set edited at web scale (scripts/evaluate_bundled.sh with WEB_ONLY=1).
#   alone    beside the rule: 34a's network alone with run 27's heads (--coefficients 0,1), not calibrated (the AUCs
#            do not depend on it), on (e), the held-out and the calibration parts, against 31c alone (its control: the
#            same config, seeds and steps without the matched originals). Fixed before its figures: the matched
#            originals are said to have bought the ranking of real fakes against real-life originals if 34a is ahead
#            of 31c on the (c+d) leak-free pooled AUC against the IMD2020 originals with share >= 0.95 (paired
#            bootstrap, 31c as the reference), to have cost it if 31c is ahead with share >= 0.95, neither otherwise;
#            the pooled figure and (e) are reported beside.
# Not passed (docs/MODEL_CARD.md, run 34): (1) fails: (e) AUC 0.618 -> 0.607 (share 0.343), leak-free pooled vs IMD2020
# originals 0.784 -> 0.765 (0.206); (2) holds (lowest share 0.206; of the others 0.273, the synthetic detection AUC);
# (3) holds (0.080 / 0.100); (4) holds (0.936 against 0.939). Run 27 stays. Beside: pooled vs IMD2020 originals 0.753 ->
# 0.685 (share 0.001).
# Measured (alone): neither by the fixed reading: 34a against 31c, leak-free vs IMD2020 originals 0.746 -> 0.710 (share
# 0.238); beside, pooled 0.727 -> 0.652 (0.019) and (e) 0.617 -> 0.564 (0.046).
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run34.sh [lists] [phase2] [export] [soup] [top] [eval] [judge] [alone] [casia]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(lists phase2 export soup top eval judge alone)
data=${TRUFOR_SHARED:-../shared}/data
mkdir -p out
run14=out/run14_bundled.safetensors  # the shipped file of run 14 (its network is 12d's), the config's init
[ -f $run14 ] || git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14
run27=out/run27_bundled.safetensors  # the shipped file of run 27
[ -f $run27 ] || git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27
dir=out/train/lite0_run34a_phase2
sets=(heldout calibpart synthetic_holdout)
for step in "${steps[@]}"; do
  case $step in
    lists)
      [ -f out/lists/imd2020_pairs.csv ] || python scripts/imd2020_pairs.py out/lists
      python scripts/imd2020_pairs.py out/lists --from-csv ;;
    phase2)
      [ -f out/lists/imd2020_matched_originals.txt ] || python scripts/imd2020_pairs.py out/lists --from-csv
      [ -f $dir/last.pt ] && grep -q 'finished' $dir/train.log || \
        trufor train configs/lite0_run34a_phase2.yaml train.progress=false ;;
    export)
      [ -f out/lite0_run34a_uncalibrated.safetensors ] || trufor train export $dir/last.pt \
        out/lite0_run34a_uncalibrated.safetensors --half --allow-phase2 ;;
    soup)
      [ -f out/lite0_run34_uncalibrated.safetensors ] || trufor train average $run27 \
        out/lite0_run34a_uncalibrated.safetensors --parts backbone,decode_head \
        -o out/lite0_run34_uncalibrated.safetensors ;;
    top)
      [ -f out/lite0_run34.safetensors ] || scripts/calibrate_bundled.sh out/lite0_run34_uncalibrated.safetensors \
        out/lite0_run34.safetensors out/lists/calib_groups_camera_real.txt ;;
    eval)
      [ -f out/reports/judge_web_run27/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh $run27 run27
      NO_WEB=1 scripts/evaluate_bundled.sh out/lite0_run34.safetensors run34
      [ -f out/reports/synthetic_web_holdout_run27/per_image.csv ] || \
        WEB_ONLY=1 scripts/evaluate_bundled.sh $run27 run27
      WEB_ONLY=1 scripts/evaluate_bundled.sh out/lite0_run34.safetensors run34 ;;
    judge)
      python benchmarks/compare_models.py run27 run34
      python benchmarks/paired_bootstrap.py run27 run34 --sets judge_web
      python benchmarks/paired_bootstrap.py run27 run34 --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      python benchmarks/paired_bootstrap.py run27 run34 --sets heldout calibpart
      python benchmarks/paired_bootstrap.py run27 run34 --sets synthetic_holdout
      python benchmarks/paired_bootstrap.py run27 run34 --sets synthetic_web_holdout  # beside, not judged
      python benchmarks/confidence_quality.py run27 run34 --sets "${sets[@]}" ;;
    alone)  # beside the rule: 34a's encoder and localization decoder with run 27's heads, not calibrated (31c: control)
      [ -f out/reports/judge_web_run31c/per_image.csv ] || scripts/train_lite0_run31.sh control
      w=out/lite0_run34a_top_uncalibrated.safetensors
      [ -f $w ] || trufor train average $run27 out/lite0_run34a_uncalibrated.safetensors --parts backbone,decode_head \
        --coefficients 0,1 -o $w
      trufor eval list:fake_list.txt,real_list.txt --root out/testsets/web_jpeg_judge -o out/reports/judge_web_run34a \
        --weights $w --no-plots -q
      trufor eval list:"$PWD/out/lists/imd2020_val_fake.txt","$PWD/out/lists/heldout_real.txt" --root "$data" \
        -o out/reports/heldout_run34a --weights $w --no-plots -q
      trufor eval list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_groups_real.txt" --root "$data" \
        -o out/reports/calibpart_run34a --weights $w --no-plots -q
      python benchmarks/compare_models.py run27 run31c run34a
      python benchmarks/paired_bootstrap.py run31c run34a --sets judge_web
      python benchmarks/paired_bootstrap.py run31c run34a --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      python benchmarks/paired_bootstrap.py run31c run34a --sets heldout calibpart
      python benchmarks/paired_bootstrap.py run27 run34a --sets judge_web ;;
    casia)  # CASIA v1 once, for a file shipped
      trufor eval casia1 --root "$data/benchmarks/casia1" -o out/reports/casia1_run34 \
        --weights out/lite0_run34.safetensors -q ;;
    *) echo "unknown step $step (lists, phase2, export, soup, top, eval, judge, alone, casia)" >&2
       exit 2 ;;
  esac
done
