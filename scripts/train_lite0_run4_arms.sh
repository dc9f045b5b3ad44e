#!/usr/bin/env bash
# The equal-budget arms beside run 4 (docs/MODEL_CARD.md, "Run 4"), each exported, calibrated by group like
# run 4 and measured on the held-out sets (never on CASIA v1):
#   arm old-np  : run 4's phases 2-3 recipe with the bundled model's own Noiseprint++
#   arm long-p3 : run 4's phase 3 at 900 steps (needs out/train/lite0_run4_phase2 from train_bundled_lite0_run4.sh)
# Each training phase resumes where it stopped when rerun. Needs ../shared/data (or $TRUFOR_SHARED).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${TRUFOR_SHARED:-../shared}/data
python scripts/make_heldout_lists.py out/lists > /dev/null
calibrate() {  # checkpoint dir, output name
  trufor train export "out/train/$1/best.pt" "out/$2_uncalibrated.safetensors" --half
  trufor train calibrate "out/$2_uncalibrated.safetensors" \
    list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_real.txt" --root "$data" \
    -o "out/$2.safetensors" --max-fpr 0.1 --groups folder
}
trufor train configs/lite0_arm_oldnp_phase2.yaml
trufor train configs/lite0_arm_oldnp_phase3.yaml
calibrate lite0_arm_oldnp_phase3 lite0_arm_oldnp
scripts/evaluate_bundled.sh out/lite0_arm_oldnp.safetensors arm_oldnp
trufor train configs/lite0_run4_phase3_long.yaml
calibrate lite0_run4_phase3_long lite0_run4_longp3
scripts/evaluate_bundled.sh out/lite0_run4_longp3.safetensors run4_longp3
