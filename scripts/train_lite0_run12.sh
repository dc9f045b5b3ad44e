#!/usr/bin/env bash
# Run 12 (CPU, 2 cores): the camera-trained Noiseprint++ under run 11's control, judged on the maps first.
# Each step and the rule between them were fixed before any figure was read:
#   phase1   run 6's phase-1 continuation of run 4's camera-trained extractor (scripts/train_lite0_run6_phase1.sh,
#            ~20 min; needs out/train/lite0_phase1_cameras/best.pt, run 4's phase 1), skipped when its best.pt exists
#   phase2   configs/lite0_run12_phase2.yaml: run 11's control (from run 3.1, same steps and seeds) with that
#            extractor (~13 min); the model kept is its last step
#   maps     phase 2 exported with run 3.1's heads (they are not judged here) and evaluated on the held-out and
#            calibration parts and the synthetic held-out set; then
#              python benchmarks/map_scores.py run3_1 run11_control run12_maps
#            Phase 3 follows only when run 12's maps beat the control's: mean F1 best of the 18 masked fakes higher
#            by >= 0.02, and the map's max and 99th percentile against IMD2020 originals not lower by > 0.02
#   phase2b  (run 12's maps failed that rule, with synthetic localization below the control's) run 12's phase 2
#            continued 600 steps (configs/lite0_run12b_phase2.yaml, ~13 min): does the new extractor need more steps?
#   mapsb    the same export, evaluations and rule for it (run12b_maps)
#   phase2c  12b's control: run 11's control continued exactly as 12b (configs/lite0_run12b_control_phase2.yaml)
#   mapsc    its maps (run12b_control_maps): the extractor or the extra steps?
#   run12c, maps12c, run12c_control, maps12c_control
#            (12b led its control on the real-life ranking from the map by about one standard error; the F1 rule failed,
#            +0.012) 12b and its control each continued 600 more steps (configs/lite0_run12c{,_control}_phase2.yaml,
#            seed 113, ~13 min each), with their maps (run12c_maps, run12c_control_maps). Fixed before reading them:
#            phase 3's trunk is 12c when its map max vs IMD2020 originals beats the control's by >= 0.02 with masked
#            F1 not lower by > 0.02; otherwise 12c's control (the extra steps alone). Either way the phase-3 candidate
#            is then judged against run 3.1 as below.
#   run12d_control, maps12d_control
#            (run 13, after run 12's phase 3: does localization keep rising with phase-2 steps?) 12c's control
#            continued 600 more steps (configs/lite0_run12d_control_phase2.yaml, seed 114, ~13 min), with its maps
#            (run12d_control_maps)
#   run12d, maps12d
#            (run 13 saw the maps fire on the subjects of real-life originals) 12c's control continued exactly as
#            12d's control but with no content-following regions in the training synthesis (shapes polygon and blob;
#            configs/lite0_run12d_phase2.yaml), with its maps (run12d_maps). Fixed before reading them: 12d removes
#            the object cue when its map maximum and 99th percentile against IMD2020 originals both beat its
#            control's by >= 0.02 with masked F1 not lower by > 0.02
#   draws    run 3's phase 3 (configs/lite0_run10_phase3.yaml) on 12c's control's network, which the rule above chose (or $TRUNK's) from run 2's heads, seeds 33/23,
#            34/24, 35/25 (d1-d3, run 11's), each exported uncalibrated (~5.5 min each)
#   average  the weight average of d1-d3 (the candidate: no draw chosen), calibrated by group
#   eval     the candidate on the held-out sets and the calibration part (scripts/evaluate_bundled.sh)
#   spread   each draw scored on the candidate's reports (benchmarks/head_variants.py)
# The candidate is judged against run 3.1 as run 11 was: the pooled real-life ranking (rows (c+d) of
# benchmarks/compare_models.py) beside (a), (a2) and (b). Rerun to resume (every step skips what exists).
#   scripts/train_lite0_run12.sh [phase1] [phase2] [maps] [phase2b] [mapsb] [phase2c] [mapsc] [run12c] [maps12c]
#                                [run12c_control] [maps12c_control] [run12d_control] [maps12d_control] [run12d] [maps12d] [draws]
#                                [average] [eval] [spread]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(phase1 phase2 maps)
bundled=src/trufor/bundled/trufor_lite0.safetensors
run2=out/run2_bundled.safetensors
[ -f $run2 ] || git show 6f67c4d:$bundled > $run2
trunk=$PWD/out/train/${TRUNK:-lite0_run12c_control_phase2}/last.pt  # phase 3's network, chosen by 12c's rule (TRUNK= picks another)
draws=(d1 d2 d3)
maps() {  # NAME RUN: phase 2's last step exported with the heads it started from, evaluated where map_scores.py reads
  scripts/evaluate_maps.sh "$1" "$2"
  python benchmarks/map_scores.py run3_1 run11_control "$1"
}
for step in "${steps[@]}"; do
  case $step in
    phase1)
      [ -f out/train/lite0_run6_phase1/best.pt ] || scripts/train_lite0_run6_phase1.sh train.progress=false ;;
    phase2)
      trufor train configs/lite0_run12_phase2.yaml train.progress=false ;;
    maps)
      maps run12_maps lite0_run12_phase2 ;;
    phase2b)
      trufor train configs/lite0_run12b_phase2.yaml train.progress=false ;;
    mapsb)
      maps run12b_maps lite0_run12b_phase2 ;;
    phase2c)
      trufor train configs/lite0_run12b_control_phase2.yaml train.progress=false ;;
    mapsc)
      maps run12b_control_maps lite0_run12b_control_phase2 ;;
    run12c)
      trufor train configs/lite0_run12c_phase2.yaml train.progress=false ;;
    maps12c)
      maps run12c_maps lite0_run12c_phase2 ;;
    run12c_control)
      trufor train configs/lite0_run12c_control_phase2.yaml train.progress=false ;;
    maps12c_control)
      maps run12c_control_maps lite0_run12c_control_phase2 ;;
    run12d_control)
      trufor train configs/lite0_run12d_control_phase2.yaml train.progress=false ;;
    maps12d_control)
      maps run12d_control_maps lite0_run12d_control_phase2 ;;
    run12d)
      trufor train configs/lite0_run12d_phase2.yaml train.progress=false ;;
    maps12d)
      maps run12d_maps lite0_run12d_phase2 ;;
    draws)
      scripts/phase3_draws.sh run12 "$trunk" "$run2" ;;
    average)
      [ -f out/lite0_run12_uncalibrated.safetensors ] || trufor train average \
        out/lite0_run12d{1,2,3}_uncalibrated.safetensors -o out/lite0_run12_uncalibrated.safetensors
      [ -f out/lite0_run12.safetensors ] || \
        scripts/calibrate_bundled.sh out/lite0_run12_uncalibrated.safetensors out/lite0_run12.safetensors ;;
    eval)
      scripts/evaluate_bundled.sh out/lite0_run12.safetensors run12 ;;
    spread)
      variants=()
      for d in "${draws[@]}"; do variants+=("run12${d}=out/lite0_run12${d}_uncalibrated.safetensors"); done
      python benchmarks/head_variants.py out/lite0_run12.safetensors run12 "${variants[@]}" \
        --sets calibpart heldout synthetic_holdout synthetic_web_holdout ;;
    *) echo "unknown step $step (phase1, phase2, maps, phase2b, mapsb, phase2c, mapsc, run12c, maps12c, run12c_control, maps12c_control, run12d_control, maps12d_control, run12d, maps12d, draws, average, eval, spread)" >&2; exit 2 ;;
  esac
done
