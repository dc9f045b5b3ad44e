#!/usr/bin/env bash
# Run 10 (CPU, 2 cores): phase 3 as a draw. Run 3's phase-3 recipe (configs/lite0_run10_phase3.yaml: data, 300
# steps of 4 crops, learning rate) on the committed bundled model's frozen network, drawn several times:
#   c1-c3  heads from the committed model (as run 9c), other seeds (train.seed / synthetic stream seed)
#   r3     heads from run 2's bundled file (git 6f67c4d), run 3's own seeds 33 / 23: run 3's phase 3 again
#          (run 3 started from run 2's heads; the frozen network is run 3's, stored in float16)
#   r4     the same heads, seeds 34 / 24
#   f1, f2 fresh random heads (train.seed 33), synthetic seeds 23 / 24
# then the weight averages of the draws that share a start (c1-c3 + run 9c; r3 + r4; f1 + f2), and every draw
# scored in one pass per set by benchmarks/head_variants.py on the held-out reports of the bundled model (run3_1)
# and on the calibration part (training side: 20 IMD2020 calibration fakes vs the 197 calibration authentic photos).
# Each export is uncalibrated (AUCs do not depend on calibration). Run 9c is scored too, under its own name: the tool
# rewrites its reports with scores that give back its recorded figures (a check of the tool). Rerun to resume.
#   scripts/train_lite0_run10.sh [draws] [score]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(draws score)
data=${TRUFOR_SHARED:-../shared}/data
bundled=src/trufor/bundled/trufor_lite0.safetensors
run2=out/run2_bundled.safetensors
[ -f $run2 ] || git show 6f67c4d:$bundled > $run2
declare -A over=(
  [c1]="train.seed=34 data.train.0.seed=24"
  [c2]="train.seed=35 data.train.0.seed=25"
  [c3]="train.seed=36 data.train.0.seed=26"
  [r3]="train.seed=33 data.train.0.seed=23 model.heads_from=$PWD/$run2"
  [r4]="train.seed=34 data.train.0.seed=24 model.heads_from=$PWD/$run2"
  [f1]="train.seed=33 data.train.0.seed=23 model.heads_from=random"
  [f2]="train.seed=33 data.train.0.seed=24 model.heads_from=random"
)
order=(c1 r3 f1 c2 r4 f2 c3)
for step in "${steps[@]}"; do
  case $step in
    draws)
      for a in "${order[@]}"; do
        out=out/lite0_run10${a}_uncalibrated.safetensors
        [ -f "$out" ] && continue
        # shellcheck disable=SC2086
        trufor train configs/lite0_run10_phase3.yaml ${over[$a]} output.dir="$PWD/out/train/lite0_run10${a}_phase3" \
          train.progress=false
        trufor train export "out/train/lite0_run10${a}_phase3/best.pt" "$out" --half
      done
      trufor train average out/lite0_run10c{1,2,3}_uncalibrated.safetensors out/lite0_run9c_uncalibrated.safetensors \
        -o out/lite0_run10c_avg_uncalibrated.safetensors
      trufor train average out/lite0_run10r{3,4}_uncalibrated.safetensors -o out/lite0_run10r_avg_uncalibrated.safetensors
      trufor train average out/lite0_run10f{1,2}_uncalibrated.safetensors -o out/lite0_run10f_avg_uncalibrated.safetensors ;;
    score)
      python scripts/make_heldout_lists.py out/lists > /dev/null
      trufor eval list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_groups_real.txt" --root "$data" \
        -o out/reports/calibpart_run3_1 --weights $bundled --no-plots -q
      variants=()
      for a in "${order[@]}" c_avg r_avg f_avg; do variants+=("run10${a}=out/lite0_run10${a}_uncalibrated.safetensors"); done
      variants+=("run9c=out/lite0_run9c_uncalibrated.safetensors")
      python benchmarks/head_variants.py $bundled run3_1 "${variants[@]}" \
        --sets calibpart heldout synthetic_holdout synthetic_web_holdout ;;
    *) echo "unknown step $step (draws, score)" >&2; exit 2 ;;
  esac
done
