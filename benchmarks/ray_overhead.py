#!/usr/bin/env python
"""Images per minute of a plain ``trufor detect`` against ``trufor detect --ray local`` on the same cores.

Makes ``--count`` CASIA-sized crops (default 384x256, JPEG q90) of the real photos of ../shared/data/pristine
in a temporary folder, then runs, one after the other, each in a fresh process:

* ``trufor detect IN -o OUT -q`` (the plain run; torch's default threads), timed from process start to exit;
* ``trufor.cluster.run_detect(IN, OUT2, address="local")`` (what ``--ray local`` runs: a private Ray
  instance, one actor per node with the node's CPUs as torch threads), timed the same way, with the Ray
  start-up (``ray.init``) reported apart.

and checks that the two output folders hold bit-identical npz files. Prints one JSON object; each run also reports the network's own time (``seconds`` of its rows, summed) and
the time outside it per image, the figure that stays meaningful when other work shares the cores.

    python benchmarks/ray_overhead.py                       # 200 images, the bundled model
    python benchmarks/ray_overhead.py --count 50 --weights trufor.pth.tar
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RAY_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from trufor.cluster import run_detect
args = json.loads(sys.argv[1])
run = run_detect([args["input"]], args["output"], address="local", weights=args["weights"])
print(json.dumps({"startup_s": run.startup_seconds, "run_s": run.run_seconds, "actors": run.actors,
                  "threads": run.threads, "counts": run.counts, "in_process_s": time.perf_counter() - t0}))
"""


def make_crops(folder: Path, count: int, width: int, height: int) -> int:
    from PIL import Image

    pristine = REPO.parent / "shared" / "data" / "pristine"
    sources = sorted(pristine.rglob("*.jpg"))
    if not sources:
        sys.exit(f"no photos in {pristine}")
    folder.mkdir(parents=True, exist_ok=True)
    made = 0
    for src in sources:
        with Image.open(src) as im:
            im = im.convert("RGB")
            for x0, y0 in ((0, 0), (im.width - width, im.height - height)):  # two crops per photo
                if made == count:
                    return made
                if x0 < 0 or y0 < 0:
                    continue
                im.crop((x0, y0, x0 + width, y0 + height)).save(folder / f"{made:04d}.jpg", quality=90)
                made += 1
    return made


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])}... failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return wall, res.stdout


def same_npz(a: Path, b: Path) -> bool:
    import numpy as np

    names = sorted(p.relative_to(a) for p in a.rglob("*.npz"))
    if names != sorted(p.relative_to(b) for p in b.rglob("*.npz")):
        return False
    for name in names:
        with np.load(a / name) as x, np.load(b / name) as y:
            if sorted(x.files) != sorted(y.files) or not all(np.array_equal(x[k], y[k]) for k in x.files):
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--size", default="384x256", help="WIDTHxHEIGHT of the crops (CASIA v1: 384x256)")
    ap.add_argument("--weights", default=None, help="weights file (default: as trufor detect finds them)")
    ap.add_argument("--work", default=None, help="folder for images and outputs (default: a temporary folder)")
    ap.add_argument("--repeat", type=int, default=1, help="pairs of runs, alternating (on a shared machine)")
    ap.add_argument("--ray-first", action="store_true", help="start each pair with the Ray run")
    args = ap.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    work = Path(args.work or tempfile.mkdtemp(prefix="trufor-ray-bench-"))
    images = work / "in"
    n = make_crops(images, args.count, width, height)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))  # Ray's token, without writing ~/.ray
    env.setdefault("RAY_AUTH_MODE", "token")
    weights = ["--weights", args.weights] if args.weights else []
    runs: list[dict] = []
    for i in range(args.repeat):
        for kind in (("ray", "plain") if args.ray_first else ("plain", "ray")):
            out = work / f"{kind}{i}"
            shutil.rmtree(out, ignore_errors=True)
            if kind == "plain":
                wall, _ = timed([sys.executable, "-m", "trufor", "detect", str(images), "-o", str(out), "-q",
                                 *weights], env)
                runs.append({"kind": "plain", "wall_s": round(wall, 1), "images_per_min": round(60 * n / wall, 1)})
            else:
                child = json.dumps({"input": str(images), "output": str(out), "weights": args.weights})
                wall, text = timed([sys.executable, "-c", RAY_CHILD, child], env)
                ray = json.loads(text.strip().splitlines()[-1])
                rest = wall - ray["startup_s"]
                runs.append({"kind": "ray_local", "wall_s": round(wall, 1), "startup_s": round(ray["startup_s"], 1),
                             "wall_without_startup_s": round(rest, 1), "images_per_min": round(60 * n / wall, 1),
                             "images_per_min_without_startup": round(60 * n / rest, 1), "actors": ray["actors"],
                             "threads_per_actor": ray["threads"], "counts": ray["counts"]})
            # on a shared machine the wall time mostly measures the neighbours: the time outside the network
            # (JobResult.seconds summed from results.jsonl) is the robust figure of what each runner adds
            model_s = sum(json.loads(line)["seconds"] or 0 for line in open(out / "results.jsonl"))
            rest_s = runs[-1].get("wall_without_startup_s", runs[-1]["wall_s"]) - model_s
            runs[-1].update(model_s=round(model_s, 1), outside_model_ms_per_image=round(1000 * rest_s / n, 1),
                            load_average_1min_after=round(os.getloadavg()[0], 2))
    plain = statistics.median(r["wall_s"] for r in runs if r["kind"] == "plain")
    ray_rest = statistics.median(r["wall_without_startup_s"] for r in runs if r["kind"] == "ray_local")
    ray_wall = statistics.median(r["wall_s"] for r in runs if r["kind"] == "ray_local")
    result = {
        "images": n, "size": f"{width}x{height}", "cpus": os.cpu_count(), "weights": args.weights or "default",
        "runs": runs,
        "median_overhead_without_startup_pct": round(100 * (ray_rest / plain - 1), 1),
        "median_overhead_with_startup_pct": round(100 * (ray_wall / plain - 1), 1),
        "npz_bit_identical": same_npz(work / "plain0", work / "ray0"),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
