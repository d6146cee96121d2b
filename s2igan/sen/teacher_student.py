"""Li et al.'s teacher-student loss (TSL) for the speech encoder, Eq. (6)-(9) of "Direct
Speech-to-Image Translation" (Li, Zhang, Jia et al.).

The teacher ``f_v`` is the frozen ImageNet backbone's pooled feature of the image (the cached
``data/features``, Eq. 3); the student ``f_s`` is the speech encoder's output of the same size
(Eq. 4), neither L2-normalised: Eq. (8) asks the student to reproduce the teacher's values.

    Eq. (6)  L_TSL = L_JEL + lambda_norm L_norm + lambda_KDL L_KDL
    Eq. (7)  L_JEL_i = alpha E_{y_j != y_i}[max(0, f_si.f_vj - f_si.f_vi + m_diff)]
                     + beta  E_{y_j == y_i}[max(0, f_si.f_vj - f_si.f_vi + m_same)]
    Eq. (8)  L_norm_i = sum_k |f_sik - f_vik|
    Eq. (9)  L_KDL_i = KL(softmax(f_si) || softmax(f_vi))

Where the paper leaves a choice open, ours (also in README, "Systems"):

* Reduction: every term is the MEAN over the batch's captions i (the paper writes the per-sample
  loss L_TSL_i only); L_norm sums over the feature dimensions k, as Eq. (8) writes.
* E_{y_j == y_i} runs over the OTHER captions' images j != i of the same class (j = i adds the
  constant m_same and no gradient); an empty set (no other same-class pair, or no other-class
  pair, in the batch) contributes 0.
* "Class" y is the class label on fine-grained data and the image on scene data (Flickr8k has no
  class labels): the same keys as S2IGAN's mask M, Eq. (4).
* alpha and beta are not given in the paper: 1 and 1 (``sen.teacher_student.alpha/beta``).
* Eq. (9) is taken as written, KL(student || teacher) = sum_k p_s,k (log p_s,k - log p_v,k),
  not the usual KL(teacher || student) of knowledge distillation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def joint_embedding_loss(student: torch.Tensor, teacher: torch.Tensor, keys: torch.Tensor,
                         m_diff: float = 1.0, m_same: float = 0.1, alpha: float = 1.0,
                         beta: float = 1.0) -> torch.Tensor:
    """Eq. (7), L_JEL, mean over the batch. ``student``/``teacher`` ``(B, D)``, ``keys (B,)``
    the class (or image) of each pair; inner products ``f_si^T f_vj`` are not normalised."""
    s = student @ teacher.T  # (B, B) s[i, j] = f_si . f_vj
    margin = s - s.diagonal().unsqueeze(1)  # (B, B) f_si.f_vj - f_si.f_vi
    same = keys.unsqueeze(0) == keys.unsqueeze(1)  # (B, B)
    other = ~torch.eye(len(keys), dtype=torch.bool, device=keys.device)

    def expectation(hinge: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B,)
        return (hinge * mask).sum(1) / mask.sum(1).clamp(min=1)

    inter = expectation((margin + m_diff).clamp(min=0), ~same)
    intra = expectation((margin + m_same).clamp(min=0), same & other)
    return (alpha * inter + beta * intra).mean()


def norm_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Eq. (8), L_norm = sum_k |f_sk - f_vk| (the 1-norm), mean over the batch."""
    return (student - teacher).abs().sum(dim=1).mean()


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Eq. (9), L_KDL = KL(softmax(f_s) || softmax(f_v)) over the feature dimensions, mean over
    the batch."""
    log_s = F.log_softmax(student, dim=1)  # (B, D)
    log_v = F.log_softmax(teacher, dim=1)
    return (log_s.exp() * (log_s - log_v)).sum(dim=1).mean()


def teacher_student_loss(student: torch.Tensor, teacher: torch.Tensor, keys: torch.Tensor,
                         cfg) -> dict[str, torch.Tensor]:
    """Eq. (6) with the weights of ``cfg`` (:class:`~s2igan.sen.config.TeacherStudentConfig`):
    ``{"loss", "jel", "norm", "kdl"}``; a term of weight 0 is not computed (reported as 0)."""
    zero = student.new_zeros(())
    jel = (joint_embedding_loss(student, teacher, keys, cfg.m_diff, cfg.m_same, cfg.alpha,
                                cfg.beta) if cfg.jel else zero)
    norm = norm_loss(student, teacher) if cfg.norm else zero
    kdl = distillation_loss(student, teacher) if cfg.kdl else zero
    return {"loss": cfg.jel * jel + cfg.norm * norm + cfg.kdl * kdl, "jel": jel, "norm": norm,
            "kdl": kdl}
