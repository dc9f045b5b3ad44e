#!/usr/bin/env bash
# Phase 3 as the weight average of three draws (runs 11-14; run 10 showed one phase-3 draw is a lottery): run 3's
# phase-3 recipe (configs/lite0_run10_phase3.yaml) on the frozen network TRUNK (a phase-2 checkpoint) from the
# confidence and detection heads of HEADS (a .safetensors file), draws d1-d3 with seeds 33/23, 34/24, 35/25
# (train.seed / the synthetic stream's seed; ~5.5 min each on 2 cores), each exported uncalibrated to
# out/lite0_NAMEd1..3_uncalibrated.safetensors (checkpoints in out/train/lite0_NAMEd1..3_phase3), then their weight
# average, no draw chosen, to out/lite0_NAME_uncalibrated.safetensors. An output that exists is kept: rerun to resume.
# CONFIG (optional) replaces run 3's recipe with another phase-3 config (run 15p: the same plus one data source).
#   scripts/phase3_draws.sh NAME TRUNK HEADS [CONFIG]
set -euo pipefail
[ $# -eq 3 ] || [ $# -eq 4 ] || { echo "usage: scripts/phase3_draws.sh NAME TRUNK HEADS [CONFIG]" >&2; exit 2; }
name=$1; trunk=$(realpath -m "$2"); heads=$(realpath -m "$3")
config=$(realpath -m "${4:-$(dirname "$0")/../configs/lite0_run10_phase3.yaml}")
cd "$(dirname "$0")/.."
for f in "$trunk" "$heads" "$config"; do [ -f "$f" ] || { echo "scripts/phase3_draws.sh: $f: no such file" >&2; exit 2; }; done
declare -A seeds=([d1]="33 23" [d2]="34 24" [d3]="35 25")
for d in d1 d2 d3; do
  out=out/lite0_${name}${d}_uncalibrated.safetensors
  [ -f "$out" ] && continue
  read -r s1 s2 <<< "${seeds[$d]}"
  trufor train "$config" model.init="$trunk" model.heads_from="$heads" \
    train.seed="$s1" data.train.0.seed="$s2" output.dir="$PWD/out/train/lite0_${name}${d}_phase3" train.progress=false
  trufor train export "out/train/lite0_${name}${d}_phase3/best.pt" "$out" --half
done
[ -f "out/lite0_${name}_uncalibrated.safetensors" ] || trufor train average \
  "out/lite0_${name}d1_uncalibrated.safetensors" "out/lite0_${name}d2_uncalibrated.safetensors" \
  "out/lite0_${name}d3_uncalibrated.safetensors" -o "out/lite0_${name}_uncalibrated.safetensors"
