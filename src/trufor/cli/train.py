"""``trufor train``: run a training phase from a YAML config, export the result, inspect Noiseprint++.

    trufor train CONFIG.yaml [KEY=VALUE ...] [--print-config]
    trufor train export CHECKPOINT OUT.safetensors [--half] [--licence TEXT] [--note TEXT]
    trufor train noiseprint-figure WEIGHTS IMAGE -o OUT.png [--mask MASK]
    trufor train validate CHECKPOINT [KEY=VALUE ...] [--json]
    trufor train calibrate WEIGHTS.safetensors DATASET --root DIR -o OUT.safetensors [--max-fpr F]
    trufor train fit-head WEIGHTS.safetensors -d DATASET ROOT [-d DATASET ROOT ...] -o OUT.safetensors
    trufor train average A.safetensors B.safetensors [...] -o OUT.safetensors [--coefficients 0.5,0.5]
    trufor train graft-confidence BASE.safetensors CONF.safetensors -o OUT.safetensors
    trufor train top-head WEIGHTS.safetensors -o OUT.safetensors [--fraction 0.005] [--reference median]
                          [--mix -d DATASET ROOT ...]

Rerunning the same ``trufor train CONFIG.yaml`` continues from the run's ``last.pt``. Several GPUs:
``torchrun --nproc_per_node=N -m trufor train CONFIG.yaml``.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from ._common import add_device_arguments, console, device_from_args, fail

ACTIONS = ("export", "noiseprint-figure", "validate", "calibrate", "fit-head", "average", "graft-confidence",
           "top-head")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (phase 1, 2 or 3 from a YAML config), or export one",
        description="Run the training phase described by CONFIG.yaml (phase, data, model variant, schedule), "
                    "with dotted overrides such as train.lr=0.01. Rerun the same command to continue a stopped run. "
                    "`trufor train export CKPT OUT.safetensors` writes the trained model for `trufor detect --weights`; "
                    "`trufor train noiseprint-figure WEIGHTS IMAGE -o OUT.png` shows a Noiseprint++; "
                    "`trufor train validate CKPT` reruns a checkpoint's validation with the current metrics; "
                    "`trufor train calibrate WEIGHTS DATASET --root DIR -o OUT` fits the integrity score on "
                    "held-out training-side images (never a benchmark) so that 0.5 means something; "
                    "`trufor train fit-head WEIGHTS -d DATASET ROOT ... -o OUT` re-fits the detection head on "
                    "whole training-side images (the rest of the network frozen); "
                    "`trufor train average A B ... -o OUT` writes the weight average (model soup) of models "
                    "fine-tuned from one starting point; "
                    "`trufor train graft-confidence BASE CONF -o OUT` gives BASE a detection decoder of its own "
                    "and CONF's confidence decoder; "
                    "`trufor train top-head WEIGHTS -o OUT` makes the integrity score read the map's top pixels "
                    "(with --mix -d DATASET ROOT: mixed with the old head's logit, fitted on whole images; then "
                    "calibrate it). See docs/TRAINING.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  trufor train configs/bundled_phase1.yaml\n"
               "  trufor train configs/bundled_phase2.yaml train.lr=0.01 train.epochs=5\n"
               "  trufor train export out/train/bundled_phase3/best.pt trufor_small.safetensors --half\n"
               "  trufor train validate out/train/bundled_phase1/best.pt\n"
               "  trufor train calibrate model.safetensors list:calib_fake.txt,calib_real.txt --root DATA -o cal.safetensors\n"
               "  trufor train fit-head model.safetensors -d list:train_fake.txt,train_real.txt DATA -o head.safetensors\n"
               "  trufor train average run_a_uncal.safetensors run_b_uncal.safetensors -o soup.safetensors\n"
               "  trufor train graft-confidence model.safetensors conf_draw.safetensors -o grafted.safetensors\n"
               "  trufor train top-head phase2.safetensors -o top_uncalibrated.safetensors\n"
               "  trufor train top-head phase2.safetensors --mix -d list:fake.txt,real.txt DATA -o mixed.safetensors\n"
               "  torchrun --nproc_per_node=4 -m trufor train configs/bundled_phase2.yaml data.crop_size=512",
    )
    p.add_argument("config", metavar="CONFIG.yaml",
                   help="training config (or the action export / noiseprint-figure / validate / calibrate / fit-head / "
                        "average / graft-confidence / top-head)")
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="KEY=VALUE",
                   help="config overrides (e.g. train.lr=0.01 data.crop_size=256); --print-config shows the "
                        "resolved config and exits")
    p.set_defaults(func=run)


def _train(config: str, rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trufor train CONFIG.yaml")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--print-config", action="store_true")
    args = parser.parse_args(rest)
    from ..training import ConfigError, TrainingError, load_config, train

    try:
        cfg = load_config(config, args.overrides)
    except ConfigError as exc:
        return fail(str(exc))
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    command = "trufor train " + " ".join(shlex.quote(a) for a in [config, *args.overrides])
    try:
        result = train(cfg, command=command)
    except (ConfigError, TrainingError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    if not result.finished:
        return 0
    console(err=True).print(f"done: {result.step} steps, best {result.best_metric} = {result.best_value}; "
                            f"checkpoints in {result.output_dir}")
    return 0


def _export(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trufor train export",
                                     description="Write a phase-3 checkpoint as .safetensors for trufor detect.")
    parser.add_argument("checkpoint", help="best.pt or last.pt of a phase-3 run")
    parser.add_argument("out", help="output .safetensors file")
    parser.add_argument("--half", action="store_true", help="store float16 tensors (half the size)")
    parser.add_argument("--licence", default=None,
                        help="licence text (default: the project's own, Apache-2.0, naming any pretrained weights used)")
    parser.add_argument("--note", default=None, help="a line appended to the provenance text")
    parser.add_argument("--allow-phase2", action="store_true", help="export a phase-2 checkpoint (untrained heads)")
    args = parser.parse_args(rest)
    from ..errors import TruForError
    from ..training.export import export_checkpoint

    try:
        path = export_checkpoint(args.checkpoint, args.out, half=args.half, licence=args.licence,
                                 note=args.note, allow_phase2=args.allow_phase2)
    except TruForError as exc:
        return fail(str(exc))
    console(err=True).print(f"wrote {path}  (use: trufor detect --weights {path} IMAGE)")
    return 0


def _figure(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trufor train noiseprint-figure",
                                     description="Save image | Noiseprint++ (| mask) for a trained extractor.")
    parser.add_argument("weights", help="a training checkpoint (any phase) or one of our .safetensors")
    parser.add_argument("image")
    parser.add_argument("-o", "--out", required=True, help="output PNG")
    parser.add_argument("--mask", default=None)
    args = parser.parse_args(rest)
    from ..errors import TruForError
    from ..training.noiseprint_phase import noiseprint_figure

    try:
        noiseprint_figure(args.weights, args.image, args.out, mask=args.mask)
    except TruForError as exc:
        return fail(str(exc))
    console(err=True).print(f"wrote {args.out}")
    return 0


def _validate(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trufor train validate",
                                     description="Rerun the validation of a training checkpoint (any phase) with its "
                                                 "stored config and the current code's metrics.")
    parser.add_argument("checkpoint", help="best.pt or last.pt of a run")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. val.batches=4 data.workers=0")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(rest)
    import json
    import math

    from ..errors import TruForError
    from ..training.loop import validate_checkpoint

    try:
        metrics = validate_checkpoint(args.checkpoint, args.overrides, device=args.device)
    except TruForError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps({k: (None if math.isnan(v) else v) for k, v in metrics.items()}, indent=2))
    else:
        width = max((len(k) for k in metrics), default=0)
        for key, value in metrics.items():
            print(f"{key:<{width}}  {value:.6g}")
    return 0


def _calibrate(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="trufor train calibrate",
        description="Fit a Platt scaling of the integrity score on a calibration set (held-out training-side "
                    "images: never a benchmark) and write a copy of the weights with it folded into the "
                    "detection head. At most --max-fpr of the set's authentic images stay at a score >= 0.5.")
    parser.add_argument("weights", help="one of our .safetensors files (e.g. from trufor train export)")
    parser.add_argument("dataset", help="as for trufor eval: list:FAKE_LIST,REAL_LIST, a known layout or folder")
    parser.add_argument("--root", required=True, help="folder the dataset's paths are relative to")
    parser.add_argument("-o", "--out", required=True, help="output .safetensors file")
    parser.add_argument("--max-fpr", type=float, default=0.1,
                        help="largest false-positive rate at 0.5 on the set's authentic images (default 0.1; "
                             "negative: no constraint); with --groups folder, in each group")
    parser.add_argument("--groups", choices=("folder", "none"), default="folder",
                        help="folder (default): authentic images are grouped by the first two folders of their "
                             "path under --root, every group weighs the same in the fit and --max-fpr holds in "
                             "each; none: one pool of authentic images")
    add_device_arguments(parser)
    args = parser.parse_args(rest)
    from .. import load_model
    from ..evaluation.datasets import load_dataset
    from ..errors import TruForError
    from ..training.calibration import detection_logits, fit_platt, group_of, write_calibrated

    err = console(err=True)
    try:
        dataset = load_dataset(args.dataset, args.root)
        model = load_model(args.weights, device=device_from_args(args))
        logits, labels, paths = detection_logits(model, dataset.samples, log=lambda m: err.print(f"[yellow]{m}[/]"))
        groups = [group_of(p, args.root) for p in paths] if args.groups == "folder" else None
        calibration = fit_platt(logits, labels, max_fpr=None if args.max_fpr < 0 else args.max_fpr, groups=groups)
        path = write_calibrated(args.weights, args.out, calibration,
                                data_note=f"{dataset.name} ({len(logits)} images)")
    except TruForError as exc:
        return fail(str(exc))
    err.print(calibration.describe())
    err.print(f"wrote {path}")
    return 0


def _fit_head(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="trufor train fit-head",
        description="Re-fit the detection head on whole images: the rest of the network is frozen and run once per "
                    "image at full size, the head's eight pooled statistics are recorded, and the head (same shape) "
                    "is fitted to the image labels, each class weighing half and each data folder the same within "
                    "its class. Manipulated photos without a mask count (image label only). Use training-side "
                    "images only (never a benchmark, nor the calibration part); calibrate afterwards.")
    parser.add_argument("weights", help="one of our .safetensors files (e.g. from trufor train export)")
    parser.add_argument("-d", "--data", nargs=2, action="append", required=True, metavar=("DATASET", "ROOT"),
                        help="a fitting set as for trufor eval (list:FAKE_LIST,REAL_LIST, a known layout or folder) "
                             "and the folder its paths are relative to; repeat for several")
    parser.add_argument("-o", "--out", required=True, help="output .safetensors file")
    parser.add_argument("--cache", help="feature cache (.npz): reused while the network's other weights are the "
                                        "same, so a stopped run resumes and refits are instant")
    parser.add_argument("--folds", type=int, default=5, help="report a cross-validated AUC over this many folds "
                                                             "first (default 5; 0 or 1: none)")
    parser.add_argument("--steps", type=int, default=300, help="full-batch AdamW steps (default 300)")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 0.001)")
    parser.add_argument("--weight-decay", type=float, default=1e-2, help="AdamW weight decay (default 0.01)")
    parser.add_argument("--seed", type=int, default=0)
    add_device_arguments(parser)
    args = parser.parse_args(rest)
    from .. import load_model
    from ..errors import TruForError
    from ..training.head_refit import (FitSettings, cross_validate, describe, fit_head, pooled_features, record_sets,
                                       trunk_digest, write_refitted)

    err = console(err=True)
    settings = FitSettings(steps=args.steps, lr=args.lr, weight_decay=args.weight_decay, seed=args.seed)
    try:
        model = load_model(args.weights, device=device_from_args(args))
        data, notes = record_sets(pooled_features, model, args.data, cache_path=args.cache,
                                  digest=trunk_digest(model.net.state_dict()), log=err.print)
        if args.folds > 1:
            err.print(f"cross-validated AUC ({args.folds} folds, weighted): {cross_validate(data, settings, args.folds):.3f}")
        state = fit_head(data, settings)
        err.print(describe(data, state))
        path = write_refitted(args.weights, args.out, state, data_note=", ".join(notes) + f" ({settings})")
    except TruForError as exc:
        return fail(str(exc))
    err.print(f"wrote {path}")
    return 0


def _average(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="trufor train average",
        description="Write the weighted average of several of our .safetensors files (a 'model soup'): models "
                    "fine-tuned from one starting point, of one architecture. Floating tensors are averaged, "
                    "integer ones taken from the first file. Calibrated files are refused (average the "
                    "uncalibrated exports, then run trufor train calibrate on the result) unless every input "
                    "holds the same detection head, e.g. a calibrated file and phase-2 networks exported with its "
                    "heads (WiSE-FT): that head and its calibration record are kept. With --parts, only those "
                    "parts are averaged and every other tensor (and a calibration record) is the first file's. "
                    "Prints how far each averaged part of the network is from the average (averaging unrelated "
                    "networks gives nonsense).")
    parser.add_argument("weights", nargs="+", help="two or more of our .safetensors files (uncalibrated)")
    parser.add_argument("-o", "--out", required=True, help="output .safetensors file")
    parser.add_argument("--coefficients", default=None,
                        help="comma-separated weights, one per file, scaled to sum 1 (default: uniform)")
    parser.add_argument("--fp32", action="store_true", help="store float32 tensors (default float16, half the size)")
    parser.add_argument("--parts", default=None,
                        help="comma-separated parts to average (dncnn, backbone, decode_head, decode_head_conf, "
                             "decode_head_det, detection); the rest is taken from the first file (default: all)")
    args = parser.parse_args(rest)
    from ..errors import TruForError
    from ..training.averaging import average_weights

    coefficients = None
    if args.coefficients is not None:
        try:
            coefficients = [float(c) for c in args.coefficients.split(",")]
        except ValueError:
            return fail(f"--coefficients: expected numbers separated by commas, got {args.coefficients!r}")
    try:
        parts = None if args.parts is None else [p.strip() for p in args.parts.split(",") if p.strip()]
        result = average_weights(args.weights, args.out, coefficients=coefficients, half=not args.fp32, parts=parts)
    except TruForError as exc:
        return fail(str(exc))
    err = console(err=True)
    err.print("relative distance of the inputs from the average, by part: " + ", ".join(
        f"{part} {d:.3g}" for part, d in sorted(result.relative_distance.items())))
    if result.kept:
        err.print(f"kept from {args.weights[0]}: {', '.join(result.kept)}" + (
            f" (another input holds other values of {', '.join(result.kept_differing)})"
            if result.kept_differing else ""))
    err.print(f"wrote {result.path}  (calibrate it: trufor train calibrate {result.path} DATASET --root DIR -o OUT)")
    return 0


def _graft(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="trufor train graft-confidence",
        description="Write BASE with a detection decoder of its own and CONF's confidence decoder. The detection "
                    "decoder is BASE's confidence decoder (the one its detection head was trained to pool), so the "
                    "integrity scores are BASE's; the confidence map is CONF's. BASE and CONF must be one network "
                    "apart from what phase 3 trains (e.g. phase-3 draws of one phase-2 model). See docs/TRAINING.md.")
    parser.add_argument("base", help="our .safetensors file whose detection is kept")
    parser.add_argument("confidence_from", metavar="conf", help="our .safetensors file whose confidence decoder is taken")
    parser.add_argument("-o", "--out", required=True, help="output .safetensors file")
    parser.add_argument("--fp32", action="store_true", help="store float32 tensors (default float16, half the size)")
    args = parser.parse_args(rest)
    from ..errors import TruForError
    from ..training.graft import graft_confidence

    try:
        path = graft_confidence(args.base, args.confidence_from, args.out, half=not args.fp32)
    except TruForError as exc:
        return fail(str(exc))
    console(err=True).print(f"wrote {path}")
    return 0


def _top_head(rest: list[str]) -> int:
    from ..modeling.detection import TOP_REFERENCES

    parser = argparse.ArgumentParser(
        prog="trufor train top-head",
        description="Write WEIGHTS with a detection head that reads the map's top: the integrity logit is "
                    "a * t + b, t the mean forged-minus-pristine localization logit over the FRACTION of pixels "
                    "where it is highest (the statistic of phase 2's image-level loss, data.image_level). The old "
                    "detection head and any detection decoder are dropped; a = 1, b = 0 until `trufor train "
                    "calibrate` fits them on a calibration part. With --reference median, t is measured from the "
                    "image's own median logit (the top minus the median): a map raised all over is not evidence, "
                    "only what stands out of the image's own level. With --mix the old (pooled-statistics) head is "
                    "kept and mixed with t: the logit is w_t * t + w_s * s + b, s the old head's logit, the three "
                    "numbers fitted by weighted logistic regression on whole images of the --data sets (each class "
                    "half, each data folder the same within its class; training-side images only, never a "
                    "benchmark nor the calibration part); calibrate afterwards. See docs/TRAINING.md.")
    parser.add_argument("weights", help="our .safetensors file (e.g. a phase-2 export)")
    parser.add_argument("-o", "--out", required=True, help="output .safetensors file (uncalibrated)")
    parser.add_argument("--fraction", type=float, default=0.005,
                        help="fraction of the pixels averaged (default 0.005, the image-level loss's default)")
    parser.add_argument("--reference", choices=TOP_REFERENCES, default="none",
                        help="what the top is measured from: none (its absolute level, default) or median (the top "
                             "minus the image's median logit)")
    parser.add_argument("--mix", action="store_true",
                        help="keep the pooled-statistics head and mix it with the map's top (needs --data)")
    parser.add_argument("-d", "--data", nargs=2, action="append", metavar=("DATASET", "ROOT"),
                        help="with --mix: a fitting set as for trufor eval (list:FAKE_LIST,REAL_LIST, a known layout "
                             "or folder) and the folder its paths are relative to; repeat for several")
    parser.add_argument("--cache", help="with --mix: cache of the two logits per image (.npz), reused while the "
                                        "network is the same, so a stopped run resumes")
    parser.add_argument("--folds", type=int, default=5,
                        help="with --mix: also report the mix's out-of-fold AUC over this many folds (0 or 1: none)")
    parser.add_argument("--fp32", action="store_true", help="store float32 tensors (default float16, half the size)")
    add_device_arguments(parser)
    args = parser.parse_args(rest)
    from ..errors import TruForError

    err = console(err=True)
    if bool(args.mix) != bool(args.data):
        return fail("--mix and --data go together: the mix is fitted on the --data sets")
    if not 0.0 < args.fraction <= 1.0:
        return fail(f"--fraction must be in (0, 1], got {args.fraction}")
    try:
        if args.mix:
            from functools import partial

            from .. import load_model
            from ..training.head_refit import record_sets, trunk_digest
            from ..training.top_head import fit_mix, mix_inputs, mix_report, mixed_detector

            model = load_model(args.weights, device=device_from_args(args))
            data, notes = record_sets(partial(mix_inputs, fraction=args.fraction, reference=args.reference), model,
                                      args.data, cache_path=args.cache, log=err.print,
                                      digest=trunk_digest(model.net.state_dict(), exclude=())
                                      + f"/top {args.fraction!r}" + ("" if args.reference == "none"
                                                                      else f" from the {args.reference}"))
            mix = fit_mix(data)
            err.print(mix.describe())
            for line in mix_report(data, mix, folds=args.folds):
                err.print(line)
            path = mixed_detector(args.weights, args.out, mix, fraction=args.fraction, reference=args.reference,
                                  data_note=", ".join(notes), half=not args.fp32)
        else:
            from ..training.top_head import top_fraction_detector

            path = top_fraction_detector(args.weights, args.out, fraction=args.fraction, reference=args.reference,
                                         half=not args.fp32)
    except TruForError as exc:
        return fail(str(exc))
    err.print(f"wrote {path}  (calibrate it: trufor train calibrate {path} DATASET --root DIR -o OUT)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.config == "top-head":
        return _top_head(args.rest)
    if args.config == "graft-confidence":
        return _graft(args.rest)
    if args.config == "average":
        return _average(args.rest)
    if args.config == "fit-head":
        return _fit_head(args.rest)
    if args.config == "calibrate":
        return _calibrate(args.rest)
    if args.config == "validate":
        return _validate(args.rest)
    if args.config == "export":
        return _export(args.rest)
    if args.config == "noiseprint-figure":
        return _figure(args.rest)
    return _train(args.config, args.rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(argparse.Namespace(config=sys.argv[1], rest=sys.argv[2:])))
