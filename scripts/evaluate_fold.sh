#!/usr/bin/env bash
# One cross-validation fold's judging images scored by one model (runs 36 on): fold K's lists of
# scripts/imd2020_cv_folds.py (out/lists/cv), the images as they came into out/reports/cvjudge_NAME and their re-saved
# copies (out/testsets/web_jpeg_judge) into out/reports/cvweb_NAME, where benchmarks/cv_reports.py gathers the folds
# (a few minutes on 2 cores; a report already written is kept).
#   scripts/evaluate_fold.sh WEIGHTS K NAME
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: scripts/evaluate_fold.sh WEIGHTS K NAME" >&2; exit 2; }
cd "$(dirname "$0")/.."
weights=$1; cv=$PWD/out/lists/cv/fold$2; name=$3
data=${TRUFOR_SHARED:-../shared}/data
[ -f "${cv}_judge_fake.txt" ] || {
  echo "${cv}_judge_fake.txt: no such list (run scripts/imd2020_cv_folds.py)" >&2
  exit 2
}
[ -f "out/reports/cvjudge_$name/per_image.csv" ] || trufor eval list:"${cv}_judge_fake.txt","${cv}_judge_real.txt" \
  --root "$data" -o "out/reports/cvjudge_$name" --weights "$weights" --no-plots -q
[ -f "out/reports/cvweb_$name/per_image.csv" ] || trufor eval \
  list:"${cv}_judge_web_fake.txt","${cv}_judge_web_real.txt" --root out/testsets/web_jpeg_judge \
  -o "out/reports/cvweb_$name" --weights "$weights" --no-plots -q
