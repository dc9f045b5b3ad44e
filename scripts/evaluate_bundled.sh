#!/usr/bin/env bash
# The figures of docs/MODEL_CARD.md for one model: held-out sets first (the ones models are chosen on), the
# calibration part (d), the real-life judge re-saved alike (e), then CASIA v1 (a test set: measured once for the
# chosen model, never used to choose).
#   scripts/evaluate_bundled.sh WEIGHTS NAME [--casia]     (WEB_ONLY=1 before it: only the web-scale set; NO_WEB=1:
#                                                            all but the web-scale set; REAL_ONLY=1: neither
#                                                            synthetic set)
# Reports go to out/reports/<set>_<NAME>; each eval caches its outputs, so a rerun resumes.
# TTA=hflip or TTA=flips before it: every eval averages those test-time views (`trufor eval --tta`; run 37 on).
# Authentic held-out photos: out/lists/heldout_real.txt (204, with bsds500's held-out half: run 5 on); set
# REAL_LIST=pristine_val_real for the 190 of the figures recorded for runs 1-4.
set -euo pipefail
cd "$(dirname "$0")/.."
weights=$1; name=$2; casia=${3:-}
data=${TRUFOR_SHARED:-../shared}/data
real_list=${REAL_LIST:-heldout_real}
views=(--tta "${TTA:-none}")
python scripts/make_heldout_lists.py out/lists > /dev/null
[ -f out/testsets/synthetic_holdout/fake_list.txt ] || python scripts/make_synthetic_testset.py out/testsets/synthetic_holdout -n 300
[ -f out/testsets/synthetic_web_holdout/fake_list.txt ] || \
  python scripts/make_synthetic_testset.py out/testsets/synthetic_web_holdout -n 300 --web-scale 1
# (a2) the same held-out photos edited at web scale (run 9 on): downscaled and re-saved as JPEG before the edit
[ -n "${NO_WEB:-}${REAL_ONLY:-}" ] || trufor eval list:fake_list.txt,real_list.txt \
  --root out/testsets/synthetic_web_holdout -o "out/reports/synthetic_web_holdout_$name" --weights "$weights" "${views[@]}" --no-plots -q
[ -z "${WEB_ONLY:-}" ] || exit 0
# (a) synthetic forgeries of held-out photos (REAL_ONLY=1 before it: left out, as (a2))
[ -n "${REAL_ONLY:-}" ] || trufor eval list:fake_list.txt,real_list.txt --root out/testsets/synthetic_holdout \
  -o "out/reports/synthetic_holdout_$name" --weights "$weights" "${views[@]}" --no-plots -q
# (b) IMD2020 val part (real manipulations, never trained on, not used for calibration) and the
#     held-out authentic photos (digicam val half, camera 10 % holdout, IMD2020 val originals; bsds500 test half
#     unless REAL_LIST=pristine_val_real)
trufor eval list:"$PWD/out/lists/imd2020_val_fake.txt","$PWD/out/lists/$real_list.txt" --root "$data" \
  -o "out/reports/heldout_$name" --weights "$weights" "${views[@]}" --no-plots -q
python benchmarks/heldout_table.py "out/reports/heldout_$name"
# (d) the calibration part (run 10 on): its 20 IMD2020 fakes against its 197 authentic photos, training-side images no
#     phase trained on (the calibration saw them; it changes no AUC); pooled with (c) by benchmarks/compare_models.py
trufor eval list:"$PWD/out/lists/imd2020_calib_fake.txt","$PWD/out/lists/calib_groups_real.txt" --root "$data" \
  -o "out/reports/calibpart_$name" --weights "$weights" "${views[@]}" --no-plots -q
# (e) the real-life judge re-saved alike (run 30 on): web copies of the 41 real fakes and 36 real-life originals of (c)
#     and (d), each drawn the same way whatever its label (384-1024 px, JPEG 60-95, 30 % twice), masks resized with
#     them: the final size and compression no longer say which is which (benchmarks/judge_confounds.py)
[ -f out/testsets/web_jpeg_judge/fake_list.txt ] || python scripts/make_web_jpeg_set.py \
  out/lists/imd2020_val_real.txt out/lists/imd2020_calib_real.txt out/testsets/web_jpeg_judge \
  --fakes out/lists/imd2020_val_fake.txt out/lists/imd2020_calib_fake.txt --root "$data"
trufor eval list:fake_list.txt,real_list.txt --root out/testsets/web_jpeg_judge \
  -o "out/reports/judge_web_$name" --weights "$weights" "${views[@]}" --no-plots -q
if [ "$casia" = "--casia" ]; then
  trufor eval casia1 --root "$data/benchmarks/casia1" -o "out/reports/casia1_$name" --weights "$weights" "${views[@]}" -q
fi
