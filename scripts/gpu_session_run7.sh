#!/usr/bin/env bash
# One call on a lent GPU machine (about 10 minutes): run 7's training (scripts/train_lite0_run7_gpu.sh) and the
# GPU figures of benchmarks/gpu.py (bundled model, and the official b2 architecture untrained), everything
# written under OUTDIR in at most 8 files (the half-precision models split in 15 MB parts: join them with
# `cat lite0_run7a.safetensors.part-* > lite0_run7a.safetensors`).
# Needs: the packed crops in .gpu/shared (scripts/pack_crops.py, see train_lite0_run7_gpu.sh) and run 6's
# phase-1 checkpoint; a python3 with torch (CUDA), numpy, Pillow, safetensors, opencv, scikit-learn, scipy,
# PyYAML, tqdm, matplotlib, rich. The package runs from src/ (no install needed).
#   scripts/gpu_session_run7.sh OUTDIR [PHASE1_S=340 PHASE2_S=240 PHASE3_S=100]
# The second call of run 7: JOBS="run7c phase1b" BENCH=0 scripts/gpu_session_run7.sh OUTDIR 170 115 55
# (needs out/train/lite0_run7_gpu_phase1/best.pt, the first call's phase 1).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu_session_run7.sh OUTDIR}
mkdir -p "$out"
work=$(mktemp -d)
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 TRUFOR_SHARED=$PWD/.gpu/shared TRUFOR="python3 -m trufor"
{ date; nvidia-smi -L; nproc; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } \
  > "$work/env.txt" 2>&1
python3 -m trufor --version >> "$work/env.txt" 2>&1 || { cat "$work/env.txt"; echo "trufor does not import"; exit 3; }
cat "$work/env.txt"
scripts/train_lite0_run7_gpu.sh "$work" "${2:-340}" "${3:-240}" "${4:-100}"
date
# the models and logs first, so that they come back even if the figures below run past the call's limit
for arm in run7a run7b run7c; do
  [ -f "$work/lite0_$arm.safetensors" ] && split -b 15M "$work/lite0_$arm.safetensors" "$out/lite0_$arm.safetensors.part-"
done
cp "$work"/lite0_run7_phase1*_best.pt "$out/" 2>/dev/null
tar -czf "$out/logs.tar.gz" -C "$work" $(cd "$work" && ls | grep -v -e '\.safetensors$' -e '\.pt$')
cat "$work"/*.log | tr '\r' '\n' | grep -e "epoch [0-9]*/" -e "finished" -e "stopped" -e "rror" | cut -c1-400 | tail -60
[ "${BENCH:-1}" = 0 ] && { ls -la "$out"; exit 0; }
bench="$out/gpu_bench.txt"
timeout -k 10 85 python3 benchmarks/gpu.py --weights src/trufor/bundled/trufor_lite0.safetensors \
  --peak-tflops 67,989 --repeat 2 > "$bench" 2>&1
echo "exit $?" >> "$bench"
timeout -k 10 75 python3 benchmarks/gpu.py --variant trufor_b2 --peak-tflops 67,989 --repeat 2 >> "$bench" 2>&1
echo "exit $?" >> "$bench"
cat "$bench"
ls -la "$out"
