#!/usr/bin/env bash
# Run 19 (CPU, 2 cores): the localization decoder fitted alone. Run 18b (run 15's recipe with gradient pastes, 2400
# steps) fitted every synthetic set better and lost the real masks (0.418 -> 0.356 against run 14); weight averages
# landed in between. Is it the encoder's drift toward the synthetic edits that costs the real photos?
# Steps, and the rule, fixed before any figure of run 19:
#   phase2   run 18's control (configs/lite0_run18_control_phase2.yaml: run 15's recipe, 600 steps from run 14's
#            network, seeds 180/181) with train.freeze: [backbone] (configs/lite0_run19_phase2.yaml): the same data
#            draws, only the localization decoder trained
#   maps     its maps (scripts/evaluate_maps.sh run19_maps; run 14's heads), the gradient-paste set, paired bootstraps
#            (benchmarks/paired_bootstrap.py, 4000 resamples, seed 0) against run 14's maps and run 18's control's.
#            Rule (A = run 14, B = run 19; on the 41 real fakes of the held-out and calibration parts), as 18b's: run 19
#            goes on to a phase 3 (run 18's steps draws .. casia, on its network) when it is ahead with share >= 0.95 on
#            (i) the mean F1 best of the 18 masked fakes or (ii) the map maximum's AUC against the IMD2020 originals,
#            and not behind (share >= 0.05) on the other, on the map maximum's AUC against all authentic photos, nor
#            on (a) the synthetic mean F1 best. Against run 18's control (the same steps with the encoder trained):
#            a diagnostic that decides nothing.
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run19.sh [phase2] [maps]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(phase2 maps)
mkdir -p out
run14=out/run14_bundled.safetensors  # the shipped file of run 14 (its network is 12d's), the config's init
[ -f $run14 ] || git show 44fea4a:src/trufor/bundled/trufor_lite0.safetensors > $run14
for step in "${steps[@]}"; do
  case $step in
    phase2)
      dir=out/train/lite0_run19_phase2
      [ -f $dir/last.pt ] && grep -q 'finished' $dir/train.log || \
        trufor train configs/lite0_run19_phase2.yaml train.progress=false ;;
    maps)
      scripts/evaluate_maps.sh run19_maps lite0_run19_phase2
      # the gradient-paste set and the reports of run 14 and run 18's control on it: scripts/train_lite0_run18.sh gradsets
      [ -f out/testsets/paste_gradient/fake_list.txt ] || scripts/train_lite0_run18.sh gradsets
      report=out/reports/paste_gradient_run19_maps
      [ -f $report/per_image.csv ] || trufor eval list:fake_list.txt,real_list.txt --root out/testsets/paste_gradient \
        -o $report --weights out/lite0_run19_phase2.safetensors --no-plots -q
      python benchmarks/map_scores.py run14 run18c_maps run19_maps
      for a in run14 run18c_maps; do
        for stat in max p99; do
          python benchmarks/paired_bootstrap.py $a run19_maps --sets heldout calibpart --statistic $stat
        done
        python benchmarks/paired_bootstrap.py $a run19_maps --sets synthetic_holdout
        python benchmarks/paired_bootstrap.py gradient_$a gradient_run19_maps --sets paste
      done ;;
    *) echo "unknown step $step (phase2, maps)" >&2
       exit 2 ;;
  esac
done
