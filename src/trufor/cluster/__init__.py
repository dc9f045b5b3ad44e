"""Running the job runner of :mod:`trufor.batch` on a cluster.

:mod:`trufor.cluster.ray_backend` runs ``trufor detect`` on Ray Data (``trufor detect ... --ray ADDRESS``,
or :func:`run_detect` from Python). Ray is an optional extra: ``pip install 'trufor[ray]'``; nothing here
imports it until a run starts.
"""

from __future__ import annotations

from .ray_backend import RAY_EXTRA, RayRun, require_ray, run_detect

__all__ = ["RAY_EXTRA", "RayRun", "require_ray", "run_detect"]
