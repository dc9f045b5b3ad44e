#!/usr/bin/env bash
# Run 15 (CPU, 2 cores): synthetic edits made in real-life photos. Every synthetic forgery so far had a camera original,
# a scanned film photo or a wallpaper as its host; the real-life originals of IMD2020 (phone and web processing,
# resizing, recompression: the photos real fakes are made from) reached training only as whole authentic crops. A
# synthetic source now reads a list file (the training part of real_list.txt, split by the same hashes as the list
# sources: 64 photos, none of the held-out or calibration ones). Steps, and the rules, fixed before any figure of run 15:
#   control  run 12d's network (the network of run 14, the shipped file) continued 600 phase-2 steps as 12d was trained
#            (configs/lite0_run15_control_phase2.yaml, seed 116, ~13 min)
#   phase2   the same plus 800 synthetic items per epoch with the 64 training originals as hosts and donors
#            (configs/lite0_run15_phase2.yaml, same seed and steps)
#   maps     both networks' maps (scripts/evaluate_maps.sh run15c_maps / run15_maps, ~14 min each), and paired
#            bootstraps (benchmarks/paired_bootstrap.py, 4000 resamples, seed 0) of run 15 against its control (what the
#            real-life hosts did) and against 12d (run12d_maps: the network run 14 was made from). Rule against 12d,
#            "share" = the share of resamples where run 15 is ahead, on the 41 real fakes of both parts:
#              run 15 goes on to a phase 3 when it is ahead with share >= 0.95 on one of (i) the mean F1 best of the 18
#              masked real fakes, (ii) the map maximum's AUC against the IMD2020 originals, and not behind on the other
#              (share >= 0.05), nor on the map maximum's AUC against all authentic photos (share >= 0.05)
#   draws, average, eval
#            run 14's recipe on run 15's network: scripts/phase3_draws.sh from run 2's heads, calibrated by group,
#            evaluated on the held-out sets and the calibration part
#   judge    against run 14 (A = run 14, B = run 15). Shipped when (1) B is ahead with share >= 0.95 on the (c+d) mean
#            F1 best of the 18 masked real fakes or on the (c+d) pooled AUC against IMD2020 originals; (2) B is not behind
#            (share >= 0.05) on either of those, on the pooled AUC against all authentic photos, on (a) synthetic F1 best
#            and on the (a) and (a2) detection AUC; (3) FPR at 0.5 on the IMD2020 val originals and the held-out camera
#            originals each <= 0.12. Then shipped (scripts/ship_bundled.py) and CASIA v1 measured once (casia).
# Run 15p, written after the two phase-2 runs had finished and before any of their maps was read: the detector side
# of the same idea, on run 14's own network. Run 13 found the maps, not the detector, limiting the ranking of real fakes
# against real-life originals; but every phase 3 so far saw real-life photos only as the 27 real fakes and 64 originals.
#   draws15p, average15p, eval15p
#            run 14's steps exactly (12d's network, run 2's heads, the same three seed pairs, averaged, calibrated by
#            group) with configs/lite0_run15p_phase3.yaml: run 3's phase-3 recipe plus synthetic edits in the 64
#            training originals (800 items per epoch, 30 % of them untouched crops)
#   judge15p against run 14 (A = run 14, B = run 15p; the maps are the same network's). Shipped when (1) B is ahead with
#            share >= 0.95 on the (c+d) pooled AUC against IMD2020 originals; (2) B is not behind (share >= 0.05) on the
#            pooled AUC against all authentic photos and on the (a) and (a2) detection AUC; (3) FPR at 0.5 on the
#            IMD2020 val originals and the held-out camera originals each <= 0.12. If run 15 and run 15p both pass, the
#            one ahead on (c+d) AUC against IMD2020 originals is shipped. Then CASIA v1 once for it (casia15p).
# Run 15b, written after run 15 had failed its rule (run 15 lifted the synthetic maps and their ranking against authentic
# photos as a whole, not against the IMD2020 originals) and before any figure of 15b or 15p existed:
#   phase2b  run 15's network continued 600 steps with run 15's recipe (configs/lite0_run15b_phase2.yaml, seeds 119/120)
#   mapsb    its maps (run15b_maps) and paired bootstraps against 12d's and run 15's. The rule of run 15 against 12d
#            decides whether it is the next phase-3 network
# Run 15q, written after 15p's figures (15p failed its rule 1 with share 0.79, pointing the same way as run 15's maps)
# and before any figure of 15q; 15b was stopped at step 50 of 600 to give its CPU time to 15q (not measured):
#   draws15q, average15q, eval15q
#            15p's phase 3 (configs/lite0_run15p_phase3.yaml, the same seeds and heads) on run 15's network
#   judge15q against run 14 by the judge rule written above for run 15 (A = run 14, B = run 15q): (1) ahead with share
#            >= 0.95 on the (c+d) mean F1 best of the 18 masked real fakes or on the (c+d) pooled AUC against IMD2020
#            originals; (2) not behind (share >= 0.05) on either, on the pooled AUC against all authentic photos, on (a)
#            synthetic F1 best and on the (a) and (a2) detection AUC; (3) FPR at 0.5 on the IMD2020 val originals and
#            the held-out camera originals each <= 0.12. Passing, it is shipped and CASIA v1 measured once (casia15q)
# Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run15.sh [control] [phase2] [maps] [draws] [average] [eval] [judge] [casia]
#                                [draws15p] [average15p] [eval15p] [judge15p] [casia15p] [phase2b] [mapsb]
#                                [draws15q] [average15q] [eval15q] [judge15q] [casia15q]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(control phase2 maps)
run2=out/run2_bundled.safetensors
[ -f $run2 ] || git show 6f67c4d:src/trufor/bundled/trufor_lite0.safetensors > $run2
judge() {  # judge A B: the figures the rules above read
  python benchmarks/compare_models.py "$1" "$2"
  python benchmarks/paired_bootstrap.py "$1" "$2" --sets heldout calibpart
  python benchmarks/paired_bootstrap.py "$1" "$2" --sets synthetic_holdout
  python benchmarks/paired_bootstrap.py "$1" "$2" --sets synthetic_web_holdout
}

# the phase-3 candidates: the network each is drawn on, and its phase-3 config (none: run 3's recipe)
declare -A trunk=([run15]=out/train/lite0_run15_phase2/last.pt [run15p]=out/train/lite0_run12d_phase2/last.pt
                  [run15q]=out/train/lite0_run15_phase2/last.pt)
declare -A config=([run15]="" [run15p]=configs/lite0_run15p_phase3.yaml [run15q]=configs/lite0_run15p_phase3.yaml)

for step in "${steps[@]}"; do
  case $step in  # a candidate's steps: run 15's, or 15p's / 15q's (the same with the suffix)
    draws|average|eval|judge|casia) run=run15 ;;
    draws15p|average15p|eval15p|judge15p|casia15p) run=run15p; step=${step%15p} ;;
    draws15q|average15q|eval15q|judge15q|casia15q) run=run15q; step=${step%15q} ;;
  esac
  case $step in
    control)
      [ -f out/train/lite0_run15_control_phase2/last.pt ] && grep -q 'finished' out/train/lite0_run15_control_phase2/train.log || \
        trufor train configs/lite0_run15_control_phase2.yaml train.progress=false ;;
    phase2)
      [ -f out/train/lite0_run15_phase2/last.pt ] && grep -q 'finished' out/train/lite0_run15_phase2/train.log || \
        trufor train configs/lite0_run15_phase2.yaml train.progress=false ;;
    maps)
      scripts/evaluate_maps.sh run15c_maps lite0_run15_control_phase2
      scripts/evaluate_maps.sh run15_maps lite0_run15_phase2
      python benchmarks/map_scores.py run12d_maps run15c_maps run15_maps
      for pair in "run15c_maps run15_maps" "run12d_maps run15_maps" "run12d_maps run15c_maps"; do
        for stat in max p99; do
          python benchmarks/paired_bootstrap.py $pair --sets heldout calibpart --statistic $stat
        done
        python benchmarks/paired_bootstrap.py $pair --sets synthetic_holdout
      done ;;
    phase2b)
      [ -f out/train/lite0_run15b_phase2/last.pt ] && grep -q 'finished' out/train/lite0_run15b_phase2/train.log || \
        trufor train configs/lite0_run15b_phase2.yaml train.progress=false ;;
    mapsb)
      scripts/evaluate_maps.sh run15b_maps lite0_run15b_phase2
      python benchmarks/map_scores.py run12d_maps run15_maps run15b_maps
      for pair in "run12d_maps run15b_maps" "run15_maps run15b_maps"; do
        for stat in max p99; do
          python benchmarks/paired_bootstrap.py $pair --sets heldout calibpart --statistic $stat
        done
        python benchmarks/paired_bootstrap.py $pair --sets synthetic_holdout
      done ;;
    draws)
      scripts/phase3_draws.sh "$run" "${trunk[$run]}" "$run2" ${config[$run]} ;;
    average)
      [ -f "out/lite0_$run.safetensors" ] || \
        scripts/calibrate_bundled.sh "out/lite0_${run}_uncalibrated.safetensors" "out/lite0_$run.safetensors" ;;
    eval)
      scripts/evaluate_bundled.sh "out/lite0_$run.safetensors" "$run" ;;
    judge)
      judge run14 "$run" ;;
    casia)  # CASIA v1 once, for the candidate shipped
      trufor eval casia1 --root "${TRUFOR_SHARED:-../shared}/data/benchmarks/casia1" -o "out/reports/casia1_$run" \
        --weights "out/lite0_$run.safetensors" -q ;;
    *) echo "unknown step $step (control, phase2, maps, phase2b, mapsb; draws, average, eval, judge, casia, each also" \
            "with the suffix 15p or 15q)" >&2
       exit 2 ;;
  esac
done
