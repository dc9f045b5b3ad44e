#!/usr/bin/env bash
# Run 36's yardstick (written, like run 36's rule, before any figure of run 36): how far two draws of one recipe land
# apart on the same 77 judging images. Run 36's out-of-fold models differ from 31c in their data and in their draw
# (other list lengths, other crops); 32a and 32b are one recipe (run 32a's config) with two seeds (run 33). 32b alone
# (run 27's heads, as 32a was measured) is scored on run 36's two folds' judging lists, gathered beside 32a's rows of
# the same images, and compared as run 36 is. Beside run 36's reading, not a part of it.
# Measured: 32a -> 32b pooled AUC against the 36 originals 0.703 -> 0.701 ([-0.114, +0.113], share 0.498); (e) 0.593 ->
# 0.601; mean F1 best of the 31 masked fakes 0.418 -> 0.433; fake above its own original (14 pairs) 0.79 -> 0.57.
#   scripts/train_lite0_run36_draws.sh   (after scripts/train_lite0_run33.sh has made 32b and run 32 32a's reports)
set -euo pipefail
cd "$(dirname "$0")/.."
run27=out/run27_bundled.safetensors
[ -f $run27 ] || git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27
w=out/lite0_run32b_top_uncalibrated.safetensors
[ -f $w ] || trufor train average $run27 out/lite0_run32b_uncalibrated.safetensors --parts backbone,decode_head \
  --coefficients 0,1 -o $w
for k in 1 2; do
  scripts/evaluate_fold.sh $w $k run32bf${k}
done
python benchmarks/cv_reports.py run32b_imd --base run32a --base-name run32a_imd --sets heldout calibpart judge_web \
  --folds cvjudge_run32bf1 cvjudge_run32bf2 cvweb_run32bf1 cvweb_run32bf2
python benchmarks/paired_bootstrap.py run32a_imd run32b_imd --sets heldout calibpart \
  --pairs out/lists/imd2020_pairs.csv --derived-masks
python benchmarks/paired_bootstrap.py run32a_imd run32b_imd --sets judge_web
