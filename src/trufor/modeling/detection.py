"""Image-level detection: pool the localization and confidence logits into one integrity logit.

Three heads (``TruForConfig.detection_pool``): :class:`DetectionHead` (the paper's: eight pooled statistics of the
confidence logits and of the confidence-weighted localization, then a small MLP), :class:`TopFractionHead` (an affine
function of the mean forged-minus-pristine localization logit over the map's highest pixels: the statistic phase 2's
image-level loss trains, read directly) and :class:`MixedHead` (a linear mix of the two logits). The map's top can
be measured from the image's own median (``TruForConfig.detection_top_reference = "median"``, :func:`top_statistic`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def weighted_statistics_pooling(x: Tensor, log_weights: Tensor | None = None) -> Tensor:
    """Soft minimum, soft maximum, mean and mean square of each channel of ``x``, weighted.

    Args:
        x: (B, C, H, W) values.
        log_weights: (B, 1, H, W) unnormalised log-weights of the pixels; uniform when None.

    Returns:
        (B, 4*C): ``[min, max, mean, mean_square]`` per channel, where min and max are the
        log-sum-exp smooth extremes ``-log sum w exp(-x)`` and ``log sum w exp(x)``.
    """
    b, c = x.shape[:2]
    x = x.reshape(b, c, -1)
    if log_weights is None:
        log_w = x.new_zeros((b, 1, x.shape[-1]))
    else:
        if log_weights.shape[0] != b or log_weights.shape[1] != 1:
            raise ValueError(f"log_weights must be (B, 1, ...), got {tuple(log_weights.shape)}")
        log_w = log_weights.reshape(b, 1, -1)
    log_w = F.log_softmax(log_w, dim=-1)
    soft_min = -torch.logsumexp(log_w - x, dim=-1)
    soft_max = torch.logsumexp(log_w + x, dim=-1)
    w = log_w.exp()
    mean = (w * x).sum(dim=-1)
    mean_sq = (w * x * x).sum(dim=-1)
    return torch.cat((soft_min, soft_max, mean, mean_sq), dim=1)


def top_fraction_mean(x: Tensor, fraction: float) -> Tensor:
    """(B,) mean of each image's ``fraction`` of highest values of ``x`` (B, ...) (at least one value).

    The count is ``ceil(fraction * n)`` for ``n`` values per image: the pooling of
    :func:`trufor.training.losses.image_level_loss` and of :class:`TopFractionHead`.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    flat = x.flatten(1)
    k = max(1, int(math.ceil(fraction * flat.shape[1])))
    return flat.topk(k, dim=1).values.mean(dim=1)


#: What the map's top is measured from (``TruForConfig.detection_top_reference``): ``"none"``, the logit scale's zero
#: (the top's absolute level); ``"median"``, the image's own median logit (the top's contrast with the rest of the map).
TOP_REFERENCES = ("none", "median")


def check_reference(reference: str) -> None:
    """Raise ValueError unless ``reference`` is one of :data:`TOP_REFERENCES`."""
    if reference not in TOP_REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(TOP_REFERENCES)}, got {reference!r}")


def top_statistic(x: Tensor, fraction: float, reference: str = "none") -> Tensor:
    """(B,) :func:`top_fraction_mean` of each image of ``x`` (B, ...), minus each image's median of ``x`` when
    ``reference`` is ``"median"`` (``torch.median``'s: the lower of the two middle values of an even count).

    With the median, a map raised all over (a photo processed or re-compressed everywhere) scores as low as a map
    low all over; only what stands out of the image's own level counts.
    """
    check_reference(reference)
    top = top_fraction_mean(x, fraction)
    if reference == "median":
        top = top - x.flatten(1).median(dim=1).values
    return top


class DetectionHead(nn.Sequential):
    """Linear 8->hidden, ReLU, Dropout, Linear hidden->1 over the pooled statistics."""

    def __init__(self, in_features: int = 8, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    @staticmethod
    def pool(loc_logits: Tensor, conf_logits: Tensor) -> Tensor:
        """The 8 statistics: confidence logits pooled uniformly, and the localization logit
        difference (forged minus pristine) pooled with weights sigmoid(confidence)."""
        f_conf = weighted_statistics_pooling(conf_logits)
        diff = loc_logits[:, 1:2] - loc_logits[:, 0:1]
        f_loc = weighted_statistics_pooling(diff, F.logsigmoid(conf_logits))
        return torch.cat((f_conf, f_loc), dim=-1)

    def forward(self, loc_logits: Tensor, conf_logits: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(self.pool(loc_logits, conf_logits))


class TopFractionHead(nn.Module):
    """Integrity logit ``a * t + b``, ``t`` the mean forged-minus-pristine localization logit (``z1 - z0``) over
    the ``fraction`` of the image's pixels where it is highest (:func:`top_fraction_mean`).

    A detector that reads the map's top: an edit anywhere raises ``t``, an authentic photo keeps it low everywhere,
    and its two numbers (``out``: Linear 1->1) are set by the calibration. With ``reference="median"``, ``t`` is
    measured from the image's median logit (:func:`top_statistic`). The confidence map is not read (the second
    argument is accepted so that both heads are called alike).
    """

    def __init__(self, fraction: float = 0.005, reference: str = "none") -> None:
        super().__init__()
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        check_reference(reference)
        self.fraction = float(fraction)
        self.reference = reference
        self.out = nn.Linear(1, 1)
        with torch.no_grad():  # the identity until calibrated: the score is sigmoid(t)
            self.out.weight.fill_(1.0)
            self.out.bias.zero_()

    def pool(self, loc_logits: Tensor) -> Tensor:
        """(B, 1): the mean of the top ``fraction`` of ``z1 - z0`` (minus its median with ``reference="median"``)."""
        diff = loc_logits[:, 1] - loc_logits[:, 0]
        return top_statistic(diff.float(), self.fraction, self.reference).unsqueeze(1)

    def forward(self, loc_logits: Tensor, pooled_logits: Tensor | None = None) -> Tensor:
        return self.out(self.pool(loc_logits))

    def extra_repr(self) -> str:
        return f"fraction={self.fraction}" + (f", reference={self.reference}" if self.reference != "none" else "")


class MixedHead(nn.Module):
    """Integrity logit ``w_t * t + w_s * s + b``: ``t`` the map's top statistic of :class:`TopFractionHead`, ``s`` the
    logit of a :class:`DetectionHead` (``statistics``) over the pooled statistics.

    The two read different things: ``t`` whether some pixels fire strongly (what phase 2's image-level loss trains
    on whole images), ``s`` the shape of the whole map and of the pooled decoder's logits (what phase 3 trains on
    crops). ``out`` (Linear 2->1) mixes them; ``trufor train top-head --mix`` fits it on training-side images and
    ``trufor train calibrate`` scales it as any head's last unit. Until fitted it reads ``t`` alone (``w = (1, 0)``).
    """

    def __init__(self, fraction: float = 0.005, statistics: DetectionHead | None = None,
                 reference: str = "none") -> None:
        super().__init__()
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        check_reference(reference)
        self.fraction = float(fraction)
        self.reference = reference
        self.statistics = statistics if statistics is not None else DetectionHead(in_features=8)
        self.out = nn.Linear(2, 1)
        with torch.no_grad():
            self.out.weight.copy_(torch.tensor([[1.0, 0.0]]))
            self.out.bias.zero_()

    def pool(self, loc_logits: Tensor) -> Tensor:
        """(B, 1): the mean of the top ``fraction`` of ``z1 - z0`` (minus its median with ``reference="median"``)."""
        diff = loc_logits[:, 1] - loc_logits[:, 0]
        return top_statistic(diff.float(), self.fraction, self.reference).unsqueeze(1)

    def inputs(self, loc_logits: Tensor, pooled_logits: Tensor) -> Tensor:
        """(B, 2): ``t`` and ``s``, the two logits ``out`` mixes."""
        return torch.cat((self.pool(loc_logits), self.statistics(loc_logits, pooled_logits).float()), dim=1)

    def forward(self, loc_logits: Tensor, pooled_logits: Tensor) -> Tensor:
        return self.out(self.inputs(loc_logits, pooled_logits))

    def extra_repr(self) -> str:
        return f"fraction={self.fraction}" + (f", reference={self.reference}" if self.reference != "none" else "")
