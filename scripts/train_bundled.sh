#!/usr/bin/env bash
# The exact commands that made the first-generation bundled model (trufor_small; replaced in the package by
# trufor_lite0, scripts/train_bundled_lite0.sh). Its phase 1 is the Noiseprint++ of both generations.
# Each phase resumes where it stopped when rerun. Data: ../shared/data/pristine only (see docs/MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
trufor train configs/bundled_phase1.yaml
trufor train configs/bundled_phase2.yaml
trufor train configs/bundled_phase3.yaml
trufor train export out/train/bundled_phase3/best.pt out/trufor_small.safetensors --half
