"""KID and FID between two image sets, with the FID Inception-v3 network the operator supplies.

The network and the metrics are torch-fidelity's (a kept implementation: `FeatureExtractorInceptionV3`,
`kid_features_to_metric`, `fid_features_to_statistics`/`fid_statistics_to_metric`). Nothing is downloaded:
torch-fidelity downloads its weights only when given no weights, and here it is always given the
operator's state_dict, loaded with `torch.load(weights_only=True)` first (so a file holding anything but
tensors fails before torch-fidelity sees it) and handed over as an in-memory checkpoint.

KID (Binkowski et al. 2018) is the unbiased MMD² with a cubic polynomial kernel over pool-3 features,
averaged over `subsets` random subsets of `subset_size` images per side (its std over those subsets is
reported beside it); unlike FID it is unbiased for small sets, so it is the number to compare when sets
hold hundreds of images. FID is reported too (biased upward below ~2,048 images; compare FIDs only
between equal set sizes). Pure torch: no storage, queue or web code.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

FEATURE = "2048"  # pool-3 features, as FID and KID are defined
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


class _Unloaded(FeatureExtractorInceptionV3):
    """The architecture with torch's default initialisation (for tests that write random weights)."""

    def load_state_dict(self, state_dict, strict=True, assign=False):  # noqa: ANN001, ANN201
        return None


def _serialised(state_dict: Mapping[str, torch.Tensor]) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(dict(state_dict), buf)
    buf.seek(0)
    return buf


def inception_architecture(seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialised state_dict of the FID network: the layout the operator's file must have."""
    torch.manual_seed(seed)
    return _Unloaded(
        "inception-v3-compat", [FEATURE], feature_extractor_weights_path=_serialised({})
    ).state_dict()


def load_inception(weights_path: str, device: torch.device | str = "cpu") -> FeatureExtractorInceptionV3:
    """The FID network with the operator's weights (strictly: every tensor present, none extra)."""
    state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
    net = FeatureExtractorInceptionV3(
        "inception-v3-compat", [FEATURE], feature_extractor_weights_path=_serialised(state_dict)
    )
    return net.to(device).eval()


@torch.no_grad()
def features(
    net: FeatureExtractorInceptionV3, images: Iterable[np.ndarray], batch_size: int = 16
) -> torch.Tensor:
    """Pool-3 features (N x 2048, float64 on the CPU) of HxWx3 uint8 images (any size: the network
    resizes each to 299x299 the way the TensorFlow original did)."""
    device = next(net.parameters()).device
    out: list[torch.Tensor] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        # Images of different sizes are resized one by one; a batch of one size goes through at once.
        groups: dict[tuple[int, ...], list[torch.Tensor]] = {}
        for t in batch:
            groups.setdefault(tuple(t.shape), []).append(t)
        for group in groups.values():
            (feats,) = net(torch.stack(group).to(device))
            out.append(feats.double().cpu())
        batch.clear()

    for image in images:
        if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8:
            raise ValueError(f"expected HxWx3 uint8 images, got {image.shape} {image.dtype}")
        batch.append(torch.tensor(image[..., :3]).permute(2, 0, 1))  # a copy: decoded arrays may be read-only
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    if not out:
        raise ValueError("no images to measure")
    return torch.cat(out)


@dataclass(frozen=True)
class SetDistance:
    """How far one image set lies from another in Inception feature space (0 = same distribution)."""

    kid_mean: float
    kid_std: float
    fid: float
    images: int
    reference_images: int
    kid_subsets: int
    kid_subset_size: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def distance(
    feats: torch.Tensor,
    reference: torch.Tensor,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> SetDistance:
    """KID (mean and std over subsets) and FID from `feats` to `reference`. Subsets hold
    min(subset_size, the smaller set) images; with fewer than two images per side KID is undefined."""
    size = min(subset_size, len(feats), len(reference))
    if size < 2:
        raise ValueError(f"KID needs at least 2 images per set, got {len(feats)} and {len(reference)}")
    kid = kid_features_to_metric(
        feats, reference, kid_subsets=subsets, kid_subset_size=size, rng_seed=seed, verbose=False
    )
    fid = fid_statistics_to_metric(
        fid_features_to_statistics(feats), fid_features_to_statistics(reference), verbose=False
    )["frechet_inception_distance"]
    return SetDistance(
        kid_mean=float(kid[KEY_METRIC_KID_MEAN]),
        kid_std=float(kid[KEY_METRIC_KID_STD]),
        fid=float(fid),
        images=len(feats),
        reference_images=len(reference),
        kid_subsets=subsets,
        kid_subset_size=size,
    )


def movement(translated: SetDistance, source: SetDistance) -> dict[str, float | str | None]:
    """How far translation moved a set toward the target: the reductions of KID and FID from the source
    set's to the translated set's, the ratios translated/source, and a sentence saying it."""
    kid_ratio = translated.kid_mean / source.kid_mean if source.kid_mean > 0 else None
    fid_ratio = translated.fid / source.fid if source.fid > 0 else None
    reduction = source.kid_mean - translated.kid_mean
    noise = max(translated.kid_std, source.kid_std)
    if abs(reduction) <= noise:
        verdict = "did not measurably move the set toward the target (the KID change is within its std)"
    elif reduction > 0:
        share = f" ({100 * (1 - kid_ratio):.0f} % of the source's KID)" if kid_ratio is not None else ""
        verdict = f"moved the set toward the target: KID fell by {reduction:.4g}{share}"
    else:
        verdict = f"moved the set away from the target: KID rose by {-reduction:.4g}"
    return {
        "kid_reduction": reduction,
        "kid_ratio": kid_ratio,
        "fid_reduction": source.fid - translated.fid,
        "fid_ratio": fid_ratio,
        "statement": (
            f"translation {verdict}; KID {source.kid_mean:.4g} ± {source.kid_std:.2g} (source) -> "
            f"{translated.kid_mean:.4g} ± {translated.kid_std:.2g} (translated), FID {source.fid:.4g} -> "
            f"{translated.fid:.4g}"
        ),
    }
