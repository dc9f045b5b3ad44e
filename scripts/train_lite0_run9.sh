#!/usr/bin/env bash
# Run 9 (CPU, 2 cores): synthetic edits at web scale (docs/SYNTHESIS.md `web_scale`), three arms from the
# committed bundled model (run 3.1), each exported, calibrated by group and measured on the held-out sets:
#   9a: phase 3 only (300 steps, ~6 min), configs/lite0_run9_phase3.yaml
#   9b: phase 2 (500 steps, ~12 min) then phase 3 (300 steps), configs/lite0_run9_phase{2,3b}.yaml
#   9c: the control of 9a: the same phase 3 without web-scale edits, configs/lite0_run9_phase3c.yaml
# baseline: the bundled model on the web-scale held-out set (out/testsets/synthetic_web_holdout, written by
# scripts/evaluate_bundled.sh: web-scale forgeries of the photos every training phase held out). Rerun to resume.
#   scripts/train_lite0_run9.sh [baseline|9a|9b|9c]...   (default: baseline 9a 9b 9c)
set -euo pipefail
cd "$(dirname "$0")/.."
arms=("$@")
[ ${#arms[@]} -gt 0 ] || arms=(baseline 9a 9b 9c)
for a in "${arms[@]}"; do
  case $a in
    baseline)
      WEB_ONLY=1 scripts/evaluate_bundled.sh src/trufor/bundled/trufor_lite0.safetensors run3_1
      continue ;;
    9a)
      trufor train configs/lite0_run9_phase3.yaml ;;
    9b)
      trufor train configs/lite0_run9_phase2.yaml
      trufor train configs/lite0_run9_phase3b.yaml ;;
    9c)
      trufor train configs/lite0_run9_phase3c.yaml ;;
    *) echo "unknown arm $a (baseline, 9a, 9b, 9c)" >&2; exit 2 ;;
  esac
  trufor train export "out/train/lite0_run${a}_phase3/best.pt" "out/lite0_run${a}_uncalibrated.safetensors" --half
  scripts/calibrate_bundled.sh "out/lite0_run${a}_uncalibrated.safetensors" "out/lite0_run${a}.safetensors"
  scripts/evaluate_bundled.sh "out/lite0_run${a}.safetensors" "run${a}"
done
