#!/usr/bin/env bash
# The exact commands that made the bundled model (src/trufor/bundled/trufor_small.safetensors).
# Each phase resumes where it stopped when rerun. Data: ../shared/data/pristine only (see docs/MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
trufor train configs/bundled_phase1.yaml
trufor train configs/bundled_phase2.yaml
trufor train configs/bundled_phase3.yaml
trufor train export out/train/bundled_phase3/best.pt src/trufor/bundled/trufor_small.safetensors --half
