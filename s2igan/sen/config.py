"""The SEN configuration (params.yaml section ``sen``), a frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from s2igan.config import at_least, fraction, one_of, positive

KINDS = ("s2igan", "teacher_student", "classifier", "text")
TEXT_SOURCES = ("truth", "asr")


@dataclass(frozen=True)
class TeacherStudentConfig:
    """Li et al.'s teacher-student loss (TSL), Eq. (6)-(9) of "Direct speech-to-image
    translation" (``sen.teacher_student``, used when ``sen.kind: teacher_student``).

    ``jel``, ``norm`` and ``kdl`` weight the three terms of Eq. (6); 0 switches a term off (Li's
    Table IV rows: L_norm alone = ``jel: 0, kdl: 0``; + JEL = ``kdl: 0``; + KDL = all on). The
    paper's values (Sec. III-F, V-A): lambda_norm 5, lambda_KDL 1000, JEL weight 1, m_diff 1,
    m_same 0.1. ``alpha`` / ``beta`` of Eq. (7) are NOT given in the paper: our choice, 1 / 1.
    """

    jel: float = 1.0  # weight of L_JEL, Eq. (7) (Eq. 6 has it at 1)
    norm: float = 5.0  # lambda_norm, L1 norm loss, Eq. (8)
    kdl: float = 1000.0  # lambda_KDL, knowledge-distillation loss, Eq. (9)
    m_diff: float = 1.0  # Eq. (7) margin, pairs of different classes
    m_same: float = 0.1  # Eq. (7) margin, pairs of the same class
    alpha: float = 1.0  # Eq. (7) inter-class weight (not given in the paper)
    beta: float = 1.0  # Eq. (7) intra-class weight (not given in the paper)

    def __post_init__(self) -> None:
        for key in ("jel", "norm", "kdl", "m_diff", "m_same", "alpha", "beta"):
            at_least(f"sen.teacher_student.{key}", getattr(self, key), 0)
        if not (self.jel or self.norm or self.kdl):
            raise ValueError("sen.teacher_student: jel, norm and kdl are all 0 "
                             "(no loss to train on)")


@dataclass(frozen=True)
class TextConfig:
    """The two-stage baseline's text side (``sen.text``, used when ``sen.kind: text``; Li et al.
    Table II, "speech -> ASR -> text -> image"): word embeddings over the training captions'
    vocabulary + the SEN's bidirectional GRU and self-attention pooling, trained with the SEN's
    losses on the ground-truth training captions.

    ``source`` is the text the `embed` stage encodes for the captions of ``asr.splits``:
    ``asr`` the pocketsphinx transcript of the caption audio, ``truth`` the ground-truth caption
    ("perfect ASR", the upper bound). Words outside the vocabulary map to ``<unk>``;
    ``min_count`` drops rarer training words from it.
    """

    source: str = "asr"  # asr | truth
    word_dim: int = 300  # word embedding size
    min_count: int = 1   # training occurrences a word needs to enter the vocabulary

    def __post_init__(self) -> None:
        one_of("sen.text.source", self.source, TEXT_SOURCES)
        at_least("sen.text.word_dim", self.word_dim, 1)
        at_least("sen.text.min_count", self.min_count, 1)


@dataclass(frozen=True)
class SENConfig:
    """Speech Embedding Network settings (Sec. III-B). Defaults: the embedded CPU profile.

    Paper profile: CUB/Oxford batch_size 128, lr 1e-3, epochs 150; Flickr8k/Places batch_size 32,
    lr 1e-4, epochs 120, distinctive false; official schedule lr x0.1 every 50 epochs
    (lr_step 50, lr_gamma 0.1).

    ``kind`` picks the system that trains the speech encoder: ``s2igan`` (this paper, Eq. 1-9),
    ``teacher_student`` (Li et al., the speech encoder regresses the frozen backbone feature,
    ``teacher_student`` settings) or ``classifier`` (speech encoder + linear classifier,
    cross-entropy on class labels only: the classifier-based baseline of both papers) or
    ``text`` (the two-stage baseline: a text encoder trained with the ``s2igan`` losses on the
    ground-truth captions, fed ASR or true text at embedding time; ``text`` settings).
    ``distinctive`` and ``beta`` belong to ``s2igan`` and ``text``.

    ``batch_groups`` (our choice; the paper: 0) builds each epoch's batches from groups of that
    many classes (images, for scene data) that are nearest neighbours under the current image
    encoder (the cached features for systems without one), :mod:`s2igan.sen.batching`.

    ``feature_regression`` (our choice; the paper: 0) adds to Eq. (8) / (9) a linear regression
    from the L2-normalised speech embedding to the standardised backbone feature of its image,
    weighted so (:func:`s2igan.sen.losses.feature_regression_loss`); ``s2igan`` and ``text``
    only.
    """

    kind: str = "s2igan"  # s2igan | teacher_student | classifier | text

    distinctive: bool = True  # Eq. (7) class loss (fine-grained data); false -> Eq. (9)
    embed_dim: int = 1024  # common space; = 2 * gru_hidden (concatenated directions)
    gru_hidden: int = 512  # per direction
    gru_layers: int = 2
    conv_channels: tuple[int, ...] = (64, 128)  # 1-D conv block 40 -> 64 -> 128
    conv_kernel: int = 6
    conv_stride: int = 2
    att_hidden: int = 128  # W1 units of Eq. (1); W2 has embed_dim units
    beta: float = 10.0  # smoothing factor of Eq. (3)
    batch_groups: int = 0  # 0: random batches (the paper); k >= 2: hard negatives (batching.py)
    feature_regression: float = 0.0  # weight of the feature-regression term (losses.py); paper 0
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    betas: tuple[float, float] = (0.95, 0.999)
    weight_decay: float = 1e-3
    lr_step: int = 10  # StepLR: lr *= lr_gamma every lr_step epochs
    lr_gamma: float = 0.5
    grad_clip: float = 0.0  # max gradient norm; 0 = off (the official code does not clip)
    val_fraction: float = 0.1  # held-out images of the TRAINING classes for model selection
    val_captions: int = 0  # captions per validation image used for selection (0 = all)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 2  # torch CPU threads
    amp: bool = True  # bf16 autocast of the encoders in training where the device computes bf16
                      # natively (s2igan.device.bf16_native), float32 elsewhere; inference float32
    gru_impl: str = "auto"  # auto (fast scan for CPU training, else nn.GRU) | fast | torch
    eval_batch_size: int = 128
    tsne_classes: int = 10  # Fig. 9: test classes shown in the t-SNE plot
    tsne_points: int = 2000
    teacher_student: TeacherStudentConfig = field(default_factory=TeacherStudentConfig)
    text: TextConfig = field(default_factory=TextConfig)

    def __post_init__(self) -> None:
        one_of("sen.kind", self.kind, KINDS)
        if self.embed_dim != 2 * self.gru_hidden:
            raise ValueError(f"sen.embed_dim ({self.embed_dim}) must be 2 * sen.gru_hidden "
                             f"({self.gru_hidden}): the embedding concatenates both directions")
        if self.gru_impl not in ("auto", "fast", "torch"):
            raise ValueError(f"sen.gru_impl must be auto, fast or torch, not {self.gru_impl!r}")
        fraction("sen.val_fraction", self.val_fraction)
        for key in ("gru_hidden", "gru_layers", "conv_kernel", "conv_stride", "att_hidden",
                    "epochs", "batch_size", "lr_step", "threads", "eval_batch_size"):
            at_least(f"sen.{key}", getattr(self, key), 1)
        for i, channels in enumerate(self.conv_channels):
            at_least(f"sen.conv_channels[{i}]", channels, 1)
        for key in ("beta", "lr", "lr_gamma"):
            positive(f"sen.{key}", getattr(self, key))
        for i, beta in enumerate(self.betas):
            fraction(f"sen.betas[{i}]", beta)
        for key in ("weight_decay", "grad_clip", "val_captions", "tsne_classes", "tsne_points"):
            at_least(f"sen.{key}", getattr(self, key), 0)
        if self.batch_groups == 1:
            raise ValueError("sen.batch_groups must be 0 (random batches) or at least 2 "
                             "(classes per group of hard negatives), not 1")
        at_least("sen.batch_groups", self.batch_groups, 0)
        at_least("sen.feature_regression", self.feature_regression, 0)
        if self.feature_regression and self.kind not in ("s2igan", "text"):
            raise ValueError(f"sen.feature_regression adds to the s2igan / text losses; "
                             f"sen.kind: {self.kind} has its own objective (set it to 0)")


# Settings that may change between a run and its resumption without invalidating last.pt.
RESUMABLE_CHANGES = ("epochs", "device", "threads", "eval_batch_size", "tsne_classes",
                     "tsne_points")
