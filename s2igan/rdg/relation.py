"""Relation supervisor (RS), Eq. (12)-(13) of Sec. III-C2, and the DAMSM-based matching variant
(Sec. IV-D2).

The RS works on image embeddings of the SEN's image encoder (applied to backbone features) of the
last generated scale. A relation classifier maps a pair of embeddings ``(a, b)`` to relation
logits through ``[a, b, |a - b|]`` -> Linear -> BatchNorm -> ReLU -> Linear.

Relation labels
---------------
fine-grained data (Eq. 12): ``L1 = 0`` positive (GT, same-class real RI), ``L2 = 1`` negative
(GT, other-class real MI), ``L3 = 2`` undesired (GT, GT itself).
scene data (Eq. 13): ``L1 = 0`` positive (GT, GT itself), ``L2 = 1`` negative (GT, MI).
The generator is pushed to make ``(GT, fake)`` look like ``L1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POSITIVE, NEGATIVE, UNDESIRED = 0, 1, 2


class RelationClassifier(nn.Module):
    def __init__(self, embed_dim: int, hidden: int = 128, n_relations: int = 3):
        super().__init__()
        self.n_relations = n_relations
        self.net = nn.Sequential(nn.Linear(3 * embed_dim, hidden), nn.BatchNorm1d(hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, n_relations))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b (B, E) -> relation logits (B, n_relations)."""
        return self.net(torch.cat([a, b, (a - b).abs()], dim=1))


def relation_pairs(gt: torch.Tensor, ri: torch.Tensor | None, mi: torch.Tensor,
                   fine_grained: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The real pairs of Eq. (12) / (13) stacked: (first (3B|2B, E), second, labels)."""
    n = len(gt)
    if fine_grained:
        if ri is None:
            raise ValueError("fine-grained relation supervision needs same-class images (RI)")
        firsts = torch.cat([gt, gt, gt])
        seconds = torch.cat([ri, mi, gt])
        labels = [POSITIVE, NEGATIVE, UNDESIRED]
    else:
        firsts = torch.cat([gt, gt])
        seconds = torch.cat([gt, mi])
        labels = [POSITIVE, NEGATIVE]
    target = torch.tensor(labels, device=gt.device).repeat_interleave(n)    # (kB,)
    return firsts, seconds, target


def rs_classifier_loss(clf: RelationClassifier, gt: torch.Tensor, ri: torch.Tensor | None,
                       mi: torch.Tensor, fake: torch.Tensor | None, fine_grained: bool
                       ) -> torch.Tensor:
    """Eq. (12)/(13) for updating the relation classifier (``fake`` is detached here).

    Each ``-log P(L_j | R_j)`` term is a batch mean; the terms are summed as in the equation.
    ``fake=None`` leaves out the ``-log P(L1 | R_GT-FI)`` term (``rs.train_on_fakes: false``): the
    classifier then learns the real relations only, and cannot learn "a generated image paired
    with its GT is positive" whatever the image shows.
    """
    firsts, seconds, target = relation_pairs(gt, ri, mi, fine_grained)
    if fake is not None:
        firsts = torch.cat([firsts, gt])
        seconds = torch.cat([seconds, fake.detach()])
        target = torch.cat([target, torch.full((len(gt),), POSITIVE, device=gt.device)])
    logits = clf(firsts, seconds)                                            # ((k+1)B, n_rel)
    per_item = F.cross_entropy(logits, target, reduction="none")
    return per_item.view(-1, len(gt)).mean(dim=1).sum()


def rs_generator_loss(clf: RelationClassifier, gt: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The generator's share of Eq. (12): ``-log P(L1 | R_{GT-FI})`` (batch mean)."""
    target = torch.full((len(gt),), POSITIVE, device=gt.device)
    return F.cross_entropy(clf(gt, fake), target)


def damsm_matching_loss(speech: torch.Tensor, image: torch.Tensor, class_ids: torch.Tensor | None,
                        beta: float = 10.0) -> torch.Tensor:
    """DAMSM-based variant (Sec. IV-D2): global speech-image matching loss, Eq. (3)-(6).

    ``speech`` (B, E) conditions and ``image`` (B, E) embeddings of the generated images. Batch
    softmax over cosine similarities scaled by ``beta``; pairs of the same class other than the
    diagonal are masked out (Eq. 4). Returns ``L_{y-x} + L_{x-y}`` as batch means.
    """
    s = F.normalize(speech, dim=1)
    x = F.normalize(image, dim=1)
    scores = beta * s @ x.t()                                                # (B, B)
    if class_ids is not None:
        same = class_ids[:, None] == class_ids[None, :]
        same.fill_diagonal_(False)
        scores = scores.masked_fill(same, float("-inf"))
    target = torch.arange(len(s), device=s.device)
    return F.cross_entropy(scores, target) + F.cross_entropy(scores.t(), target)


class ImageEmbedder(nn.Module):
    """SEN image embedding of images: ``ImageEncoder(backbone(images))``, both frozen.

    images (B, 3, H, W) in [-1, 1] -> (B, E). Differentiable w.r.t. the images, so the relation
    supervisor's loss reaches the generator through it.
    """

    def __init__(self, backbone: nn.Module, image_encoder: nn.Module):
        super().__init__()
        self.backbone = backbone.requires_grad_(False)
        self.image_encoder = image_encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "ImageEmbedder":
        return super().train(False)   # frozen: BatchNorm statistics stay in inference mode

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(self.backbone(images))


@torch.no_grad()
def embed_images(embedder: nn.Module, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """uint8 (N, 3, S, S) real images -> (N, E) embeddings (float32, on the CPU)."""
    device = next(embedder.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device).float().div(127.5).sub(1.0)
        out.append(embedder(x).float().cpu())
    return torch.cat(out)
