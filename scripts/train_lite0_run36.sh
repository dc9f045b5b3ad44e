#!/usr/bin/env bash
# Run 36 (CPU, 2 cores): what more labelled real-life photos buy, measured by cross-validation. Runs 31-35 weighed the
# same 27 + 32 real fakes and 64 originals of the training side every way and moved the judges only within a draw; the
# notes since run 30 say the next step is more real data, and there is none. The 41 fakes and 36 originals that judge
# every candidate are real data too: split them in two folds (scripts/imd2020_cv_folds.py: a fake and its original
# always in one fold, balanced in masked fakes, mask-less fakes and originals), train on the training side plus the
# other fold (about a third more real photos: +9 masked fakes, +11-12 mask-less, +18 originals), judge each fold with
# the model that did not see it. A measurement, not a candidate: no file is shipped from it.
# Steps, and the reading, fixed before any figure of run 36:
#   folds    python scripts/imd2020_cv_folds.py (2 folds, seed 36)
#   phase2   trufor train configs/lite0_run36f{1,2}_phase2.yaml: run 31c's config and seeds with its six IMD2020 list
#            sources (crop-level and image-level) replaced by the fold's lists; export each (trufor_lite0, half)
#   alone    each fold's encoder and localization decoder with run 27's heads (--coefficients 0,1, as 31c was
#            measured), not calibrated (AUCs do not depend on it), on its fold's images as they came and re-saved ((e),
#            out/testsets/web_jpeg_judge); benchmarks/cv_reports.py gathers the out-of-fold rows into reports "run36"
#            and the same images of 31c's reports into "run31c_cv".
#            Reading: more labelled real-life photos bought the ranking of real fakes against real-life originals if
#            run36 is ahead of run31c_cv on the pooled AUC of the 41 fakes against the 36 IMD2020 originals (both parts)
#            with share >= 0.95 (paired bootstrap, 4000 resamples, seed 0, run31c_cv the reference), cost it if
#            run31c_cv is ahead with share >= 0.95, neither otherwise. The pooled figure, not the leak-free one, is
#            the reading here: the folds keep pairs together, so the added photos bring no new partner of a judged
#            image, and the training side's partners are the same for both. Reported beside: the leak-free figure,
#            (e), the masked F1 best (with derived masks), each fold's AUC, the fake-above-its-original shares.
# Measured (docs/MODEL_CARD.md, run 36): neither. Pooled out-of-fold AUC of the 41 fakes against the 36 originals 0.727
# (31c) -> 0.726 (run36), share 0.484 ([-0.073, +0.070]); leak-free 0.746 -> 0.750 (0.536); (e) 0.617 -> 0.619
# (0.518); mean F1 best of the 31 masked fakes (18 hand-made, 13 derived masks) 0.421 -> 0.426 (0.603); fold 1 0.783 ->
# 0.780, fold 2 0.661 -> 0.667. Yardstick (scripts/train_lite0_run36_draws.sh): two draws of run 32a's recipe on the
# same images 0.703 / 0.701 ([-0.114, +0.113]).
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run36.sh [folds] [phase2] [export] [alone]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(folds phase2 export alone)
mkdir -p out
run14=out/run14_bundled.safetensors  # the shipped file of run 14 (its network is 12d's), the configs' init
[ -f $run14 ] || git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14
run27=out/run27_bundled.safetensors  # the shipped file of run 27: its heads read the folds' networks
[ -f $run27 ] || git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27
for step in "${steps[@]}"; do
  case $step in
    folds)
      [ -f out/lists/imd2020_derived_list.txt ] || python scripts/imd2020_pairs.py out/lists
      [ -f out/testsets/web_jpeg_judge/fake_list.txt ] || NO_WEB=1 scripts/evaluate_bundled.sh $run27 run27
      python scripts/imd2020_cv_folds.py out/lists --folds 2 --seed 36 ;;
    phase2)
      for k in 1 2; do
        dir=out/train/lite0_run36f${k}_phase2
        [ -f $dir/last.pt ] && grep -q 'finished' $dir/train.log || \
          trufor train configs/lite0_run36f${k}_phase2.yaml train.progress=false
      done ;;
    export)
      for k in 1 2; do
        [ -f out/lite0_run36f${k}_uncalibrated.safetensors ] || trufor train export \
          out/train/lite0_run36f${k}_phase2/last.pt out/lite0_run36f${k}_uncalibrated.safetensors --half --allow-phase2
      done ;;
    alone)
      [ -f out/reports/judge_web_run31c/per_image.csv ] || scripts/train_lite0_run31.sh control
      for k in 1 2; do
        w=out/lite0_run36f${k}_top_uncalibrated.safetensors
        [ -f $w ] || trufor train average $run27 out/lite0_run36f${k}_uncalibrated.safetensors \
          --parts backbone,decode_head --coefficients 0,1 -o $w
        scripts/evaluate_fold.sh $w $k run36f${k}
      done
      python benchmarks/cv_reports.py run36 --base run31c --sets heldout calibpart judge_web \
        --folds cvjudge_run36f1 cvjudge_run36f2 cvweb_run36f1 cvweb_run36f2
      pairs=out/lists/imd2020_pairs.csv
      python benchmarks/paired_bootstrap.py run31c_cv run36 --sets heldout calibpart --pairs $pairs --derived-masks
      python benchmarks/paired_bootstrap.py run31c_cv run36 --sets heldout calibpart --pairs $pairs --leak-free
      python benchmarks/paired_bootstrap.py run31c_cv run36 --sets judge_web
      for k in 1 2; do
        python benchmarks/cv_reports.py run36f${k}only --base run31c --base-name run31c_cvf${k} \
          --sets heldout calibpart --folds cvjudge_run36f${k}
        python benchmarks/paired_bootstrap.py run31c_cvf${k} run36f${k}only --sets heldout calibpart --resamples 1000
      done ;;
    *) echo "unknown step $step (folds, phase2, export, alone)" >&2
       exit 2 ;;
  esac
done
