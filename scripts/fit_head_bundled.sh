#!/usr/bin/env bash
# Re-fit the detection head of a bundled-model candidate on whole training-side images (run 6 on;
# docs/TRAINING.md "Re-fitting the detection head"), the rest of the network frozen:
#   * IMD2020 training part: 27 masked + 32 mask-less manipulated photos (image label), 64 originals;
#   * the training side's authentic photos: camera (90 %) and bsds500 (90 %) training parts;
#   * 500 synthetic whole images (512 px) made from training-side photos only (donor-JPEG splices in half
#     the splices), seed 20261204 (the held-out synthetic test set uses other photos and another seed).
# Then calibrate (scripts/calibrate_bundled.sh) and evaluate (scripts/evaluate_bundled.sh).
#   scripts/fit_head_bundled.sh UNCALIBRATED.safetensors OUT_UNCALIBRATED.safetensors [fit-head options]
# Features are cached in out/heads/<name of UNCALIBRATED>.features.npz, so a rerun resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
weights=$1; out=$2; shift 2
data=${TRUFOR_SHARED:-../shared}/data
python scripts/make_heldout_lists.py out/lists > /dev/null
synth=out/testsets/synthetic_train
[ -f $synth/fake_list.txt ] || python scripts/make_synthetic_testset.py $synth -n 500 --part train \
  --seed 20261204 --donor-jpeg 0.5
mkdir -p out/heads
trufor train fit-head "$weights" \
  -d list:"$PWD/out/lists/imd2020_train_fake.txt","$PWD/out/lists/fit_real.txt" "$data" \
  -d list:fake_list.txt,real_list.txt "$synth" \
  --cache "out/heads/$(basename "$weights" .safetensors).features.npz" -o "$out" "$@"
