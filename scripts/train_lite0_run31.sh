#!/usr/bin/env bash
# Run 31 (CPU, 2 cores): a fresh image-level ingredient whose real-life photos are drawn as web copies, averaged into
# run 27's network. Why: (e), the real-life judge re-saved alike (41 IMD2020 fakes and 36 originals downscaled and
# re-saved as JPEG, drawn per file whatever its label), takes half of run 27's lead over chance (0.753 -> 0.618 AUC,
# FPR at 0.5 0.080 -> 0.139), and CASIA v1, all small JPEGs, is where run 27 is at chance (0.527): fact-checkers get
# web copies. The subset's fakes are also saved finer than its originals (JPEG quality alone ranks them 0.757,
# benchmarks/judge_confounds.py): web copies drawn whatever the label take that away from training too.
# Runs 28-30 (image-level continuations of run 27's own network) were behind it once the judging images whose pair
# partner was trained on are left out; run 27's four ingredients were each 600 steps from run 14's network, so the new
# one is too, and only its encoder and localization decoder are averaged in (the rest is run 27's).
# Steps, and the rule, fixed before any figure of run 31:
#   phase2   trufor train configs/lite0_run31a_phase2.yaml: run 27b's config (600 steps from run 14's network, the
#            camera calibration part never a whole image) with web_copies 0.5 on the three crop-level IMD2020 lists and
#            the five image-level sources, new seeds (310/311); export (variant trufor_lite0, half precision)
#   soup     31 = run 27's file with its encoder and localization decoder replaced by the uniform average of run 27's
#            and 31a's (`trufor train average --parts backbone,decode_head`): run 27's Noiseprint++ (run 14's, as
#            31a's), confidence decoder and map's-top head are kept
#   top      calibrated by group on run 27's groups (scripts/calibrate_bundled.sh ... calib_groups_camera_real.txt)
#   eval     NO_WEB=1 scripts/evaluate_bundled.sh (held-out sets, the calibration part and (e))
#   judge    against run 27, the shipped file (paired bootstraps, 4000 resamples, seed 0); it passes when
#            (1) it is ahead of run 27 with share >= 0.95 on at least one of: the (e) AUC of the 41 re-saved fakes
#                against the 36 re-saved originals; the (c+d) leak-free pooled AUC against the IMD2020 originals (the
#                24 fakes and 22 originals whose pair partner is not on the training side, out/lists/imd2020_pairs.csv);
#            (2) it is not behind (share >= 0.05) on any of those two, on the (e) mean F1 best of the 18 masked fakes,
#                the (c+d) leak-free pooled AUC against all authentic photos, the (c+d) mean F1 best of the 18 masked
#                real fakes, the (a) synthetic F1 best, nor the (a) synthetic detection AUC;
#            (3) its FPR at 0.5 on the IMD2020 val originals and on the held-out camera originals are each <= 0.12;
#            (4) its confidence map's mean error AUC over the three sets (benchmarks/confidence_quality.py) is >= 0.90.
#            If it passes it is shipped (scripts/ship_bundled.py), then CASIA v1 is measured once (casia). If not,
#            run 27 stays. Reported beside, not judged: the pooled (c+d) figures with every image.
# Not passed (docs/MODEL_CARD.md, run 31): (1) fails: (e) AUC 0.618 -> 0.593 (share 0.137), leak-free pooled vs IMD2020
# originals 0.784 -> 0.778 (0.391); (2) holds (lowest share 0.065, the mean F1 best of the 18 masked real fakes); (3)
# holds (0.080 / 0.050); (4) holds (0.941 against 0.941). Run 27 stays.
#   alone    beside the rule, after the verdict: 31a's network alone with run 27's heads (--coefficients 0,1), not
#            calibrated (the AUCs do not depend on it), on (e), the held-out and the calibration parts
# Rerun to resume (every step skips what exists).
#   control  after 31a alone (0.532 on (e), below run 27's 0.618): run 31c, 31a's config without web copies (run 27b's
#            config with 31a's seeds, configs/lite0_run31c_phase2.yaml), measured alone like 31a. Fixed before its
#            figures: the web copies are said to have cost the re-saved ranking if 31c is ahead of 31a on the (e) AUC
#            with share >= 0.95 (paired bootstrap, 31a as the reference), to have bought it if 31a is ahead with share
#            >= 0.95, and neither otherwise (then a lone ingredient reads web copies this way whatever its data).
#   scripts/train_lite0_run31.sh [phase2] [export] [soup] [top] [eval] [judge] [casia] [alone] [control]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(phase2 export soup top eval judge)
data=${TRUFOR_SHARED:-../shared}/data
mkdir -p out
run14=out/run14_bundled.safetensors  # the shipped file of run 14 (its network is 12d's), the config's init
[ -f $run14 ] || git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14
run27=out/run27_bundled.safetensors  # the shipped file of run 27
[ -f $run27 ] || git show d28f644:src/trufor/bundled/trufor_lite0.safetensors > $run27
dir=out/train/lite0_run31a_phase2
sets=(heldout calibpart synthetic_holdout)
alone() {  # alone NAME: NAME's phase-2 network (out/lite0_NAME_uncalibrated.safetensors) with run 27's heads, not
           # calibrated again (rankings only), on (e), the held-out part and the calibration part
  local w=out/lite0_$1_top_uncalibrated.safetensors
  [ -f $w ] || trufor train average $run27 out/lite0_$1_uncalibrated.safetensors --parts backbone,decode_head \
    --coefficients 0,1 -o $w
  trufor eval list:fake_list.txt,real_list.txt --root out/testsets/web_jpeg_judge -o out/reports/judge_web_$1 \
    --weights $w --no-plots -q
  trufor eval list:"$PWD/out/lists/imd2020_val_fake.txt","$PWD/out/lists/heldout_real.txt" --root "$data" \
    -o out/reports/heldout_$1 --weights $w --no-plots -q
  trufor eval list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_groups_real.txt" --root "$data" \
    -o out/reports/calibpart_$1 --weights $w --no-plots -q
}
for step in "${steps[@]}"; do
  case $step in
    phase2)
      [ -f out/lists/imd2020_derived_list.txt ] || python scripts/imd2020_pairs.py out/lists
      [ -f $dir/last.pt ] && grep -q 'finished' $dir/train.log || \
        trufor train configs/lite0_run31a_phase2.yaml train.progress=false ;;
    export)
      [ -f out/lite0_run31a_uncalibrated.safetensors ] || trufor train export $dir/last.pt \
        out/lite0_run31a_uncalibrated.safetensors --half --allow-phase2 ;;
    soup)
      [ -f out/lite0_run31_uncalibrated.safetensors ] || trufor train average $run27 \
        out/lite0_run31a_uncalibrated.safetensors --parts backbone,decode_head \
        -o out/lite0_run31_uncalibrated.safetensors ;;
    top)
      [ -f out/lite0_run31.safetensors ] || scripts/calibrate_bundled.sh out/lite0_run31_uncalibrated.safetensors \
        out/lite0_run31.safetensors out/lists/calib_groups_camera_real.txt ;;
    eval)
      [ -f out/reports/judge_web_run27/per_image.csv ] || NO_WEB=1 scripts/evaluate_bundled.sh $run27 run27
      NO_WEB=1 scripts/evaluate_bundled.sh out/lite0_run31.safetensors run31 ;;
    judge)
      python benchmarks/compare_models.py run27 run31
      python benchmarks/paired_bootstrap.py run27 run31 --sets judge_web
      python benchmarks/paired_bootstrap.py run27 run31 --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      python benchmarks/paired_bootstrap.py run27 run31 --sets heldout calibpart
      python benchmarks/paired_bootstrap.py run27 run31 --sets synthetic_holdout
      python benchmarks/confidence_quality.py run27 run31 --sets "${sets[@]}" ;;
    alone)  # beside the rule: 31a's encoder and localization decoder with run 27's heads, not calibrated
      alone run31a
      python benchmarks/paired_bootstrap.py run27 run31a --sets judge_web
      python benchmarks/paired_bootstrap.py run27 run31a --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      python benchmarks/paired_bootstrap.py run27 run31a --sets heldout calibpart ;;
    control)  # run 31c, 31a without web copies, measured alone as 31a was (not a candidate)
      cdir=out/train/lite0_run31c_phase2
      [ -f $cdir/last.pt ] && grep -q 'finished' $cdir/train.log || \
        trufor train configs/lite0_run31c_phase2.yaml train.progress=false
      [ -f out/lite0_run31c_uncalibrated.safetensors ] || trufor train export $cdir/last.pt \
        out/lite0_run31c_uncalibrated.safetensors --half --allow-phase2
      alone run31c
      python benchmarks/paired_bootstrap.py run31a run31c --sets judge_web
      python benchmarks/paired_bootstrap.py run31a run31c --sets heldout calibpart --pairs out/lists/imd2020_pairs.csv \
        --leak-free
      python benchmarks/paired_bootstrap.py run31a run31c --sets heldout calibpart ;;
    casia)  # CASIA v1 once, for a file shipped
      trufor eval casia1 --root "$data/benchmarks/casia1" -o out/reports/casia1_run31 \
        --weights out/lite0_run31.safetensors -q ;;
    *) echo "unknown step $step (phase2, export, soup, top, eval, judge, casia, alone, control)" >&2
       exit 2 ;;
  esac
done
