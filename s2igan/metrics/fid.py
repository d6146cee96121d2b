"""Frechet Inception Distance, Eq. (19):
``FID = ||mu_x - mu_xhat||^2 + Tr(Sigma_x + Sigma_xhat - 2 (Sigma_x Sigma_xhat)^(1/2))``,
with Gaussians fitted to backbone features of generated and real images.

The matrix square root is ``scipy.linalg.sqrtm``; tiny imaginary parts from numerical error are
dropped, and a singular product (few samples, e.g. 120 real test images and 1280-d features) is
regularised with ``eps * I`` as in the reference implementation of Heusel et al.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need features (N >= 2, D), got {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Eq. (19) between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets (N_a, D) and (N_b, D)."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))
