"""Typed configs of the RDG (Sec. III-C): the generator/discriminator shapes (``dg``), the relation
supervisor (``rs``) and the training schedule (``rdg``), one frozen dataclass per params section."""

from __future__ import annotations

from dataclasses import dataclass

from s2igan.config import at_least, fraction, one_of, positive
from s2igan.rdg.augment import augmenter
from s2igan.rdg.condition import PROJECTIONS, WEIGHTS

SPEECH_ENCODER_MODES = ("frozen", "joint", "end_to_end")
# with joint / end_to_end, the trained encoder beside generator.pt (a SEN checkpoint)
SPEECH_ENCODER_FILE = "speech_encoder.pt"


@dataclass(frozen=True)
class DGConfig:
    """Densely-stacked generator and its per-scale discriminators, Eq. (10)-(11), (15)-(17)."""

    dense: bool = True                 # Eq. (10) dense connections; False = StackGAN-v2 stacking
    image_sizes: tuple[int, ...] = (32, 64)   # one generator branch per scale, each 2x the last
    ngf: int = 32                      # channels of h_0 (halved at every later scale)
    ndf: int = 32                      # discriminator base width (StackGAN-v2 DF_DIM)
    z_dim: int = 100
    ca_dim: int = 128                  # conditioning augmentation output F^ca(y), Eq. (11)
    res_blocks: int = 2                # residual blocks per F_i, i >= 1 (StackGAN-v2 R_NUM)
    max_d_channels: int = 0            # cap of a discriminator's width (0 = no cap, as official)
    standardize_condition: bool = False  # scale the L2-normalised speech embedding by sqrt(E)
                                       # (unit RMS per component) before F^ca, Eq. (11)
    d_condition: str = "concat"        # conditional D head: concat (paper) | projection
    d_match: float = 0.0               # weight of D's contrastive matching head (0 = none, paper)
    match_beta: float = 10.0           # its similarity scale, as beta of Eq. (3)
    d_attributes: float = 0.0          # weight of D's attribute classification head (AC-GAN;
                                       # needs attribute labels, else 0 with a message); 0 = paper
    cond_norm: bool = False            # condition every generator BatchNorm on F^ca(y)
                                       # (False = paper)
    condition_projection: str = "none"  # fitted projection of y before F^ca:
                                        # none (paper) | lda | whiten | cca
    condition_dims: int = 256          # its output size (zero-padded; rdg/condition.py)
    condition_vlad: int = 0            # K > 0: the cca condition also reads a VLAD of the SEN's
                                       # BiGRU states over K centres (sen/vlad.py); 0 = paper
    condition_weights: str = "train"   # cca directions weighted by their correlation on the
                                       # training pairs (train) or on held-out classes (heldout)
    condition_attributes: int = 0      # > 0: the projection's output gains a one-hot code of the
                                       # attributes read from y, projected to this many numbers
                                       # (rdg/attributes.py; beside a projection other
                                       # than none, else the run uses 0); 0 = paper

    def __post_init__(self) -> None:
        sizes = tuple(self.image_sizes)
        if not 1 <= len(sizes) <= 4:
            raise ValueError(f"dg.image_sizes needs 1-4 scales, got {sizes}")
        if sizes[0] < 16 or sizes[0] & (sizes[0] - 1):
            raise ValueError(f"dg.image_sizes[0] must be a power of two >= 16, got {sizes[0]}")
        if any(b != 2 * a for a, b in zip(sizes, sizes[1:])):
            raise ValueError(f"dg.image_sizes must double at every scale, got {sizes}")
        if self.d_condition not in ("concat", "projection"):
            raise ValueError(f"dg.d_condition must be 'concat' or 'projection', got "
                             f"{self.d_condition!r}")
        one_of("dg.condition_projection", self.condition_projection, PROJECTIONS)
        one_of("dg.condition_weights", self.condition_weights, WEIGHTS)
        at_least("dg.condition_dims", self.condition_dims, 1)
        at_least("dg.condition_vlad", self.condition_vlad, 0)
        at_least("dg.condition_attributes", self.condition_attributes, 0)
        if self.condition_vlad and self.condition_dims < 2:
            raise ValueError("dg.condition_vlad splits dg.condition_dims between the SEN "
                             f"embedding and the VLAD: it needs >= 2, got {self.condition_dims}")
        if self.d_match < 0:
            raise ValueError(f"dg.d_match must be >= 0, got {self.d_match}")
        if self.d_attributes < 0:
            raise ValueError(f"dg.d_attributes must be >= 0, got {self.d_attributes}")
        if self.ngf % (2 ** (len(sizes) - 1)) or self.ngf < 2 ** len(sizes):
            raise ValueError(f"dg.ngf={self.ngf} must be divisible by 2^(scales-1) and > 2^scales")
        for key in ("ndf", "z_dim", "ca_dim"):
            at_least(f"dg.{key}", getattr(self, key), 1)
        at_least("dg.res_blocks", self.res_blocks, 0)
        at_least("dg.max_d_channels", self.max_d_channels, 0)
        positive("dg.match_beta", self.match_beta)


@dataclass(frozen=True)
class RSConfig:
    """Relation supervisor, Eq. (12)-(13), or the DAMSM-based matching variant (Sec. IV-D2)."""

    enabled: bool = True
    kind: str = "relation"             # relation | damsm
    weight: float = 1.0                # weight of L_RS (or the matching loss) in L_G, Eq. (14)
    hidden: int = 128                  # relation classifier MLP width
    lr: float = 0.0002                 # relation classifier learning rate
    beta: float = 10.0                 # damsm: smoothing factor of the batch softmax, as Eq. (3)
    max_images: int = 0                # RS on the first k generated images of a batch (0 = all);
                                       # the backbone pass dominates a small CPU step
    input_size: int = 0                # backbone input size for the RS (0 = the backbone's own,
                                       # e.g. 224); the CPU profile uses the generator's 64 px
    every: int = 1                     # RS (classifier and generator terms) every k-th step
    train_on_fakes: bool = True        # the classifier also learns (GT, fake) = L1, Eq. (12) and
                                       # the official code; False: real relations only
    real_features: str = "rescaled"    # rescaled: backbone on real images at the last scale, once;
                                       # cached: data/features (original resolution)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"rs.every must be >= 1, got {self.every}")
        if self.kind not in ("relation", "damsm"):
            raise ValueError(f"rs.kind must be 'relation' or 'damsm', got {self.kind!r}")
        if self.input_size and self.real_features == "cached":
            raise ValueError("rs.input_size needs rs.real_features: rescaled (the cached features "
                             "were computed at the backbone's own input size)")
        if self.real_features not in ("rescaled", "cached"):
            raise ValueError(f"rs.real_features must be 'rescaled' or 'cached', got "
                             f"{self.real_features!r}")
        at_least("rs.weight", self.weight, 0)
        at_least("rs.hidden", self.hidden, 1)
        positive("rs.lr", self.lr)
        positive("rs.beta", self.beta)
        at_least("rs.max_images", self.max_images, 0)
        at_least("rs.input_size", self.input_size, 0)


@dataclass(frozen=True)
class RDGConfig:
    """Training schedule of the RDG (alternating D / RS / G updates)."""

    epochs: int = 30
    batch_size: int = 24
    lr_g: float = 0.0002
    lr_d: float = 0.0002
    lr_decay_from: float = 1.0         # every learning rate constant until this fraction of the
                                       # steps, then falling linearly towards 0 at the last step
                                       # (step.lr_factor); 1 = constant throughout (the paper)
    betas: tuple[float, float] = (0.5, 0.999)
    kl_weight: float = 2.0             # weight of the conditioning-augmentation KL term
    uncond_weight: float = 1.0         # weight of the unconditional terms of Eq. (15)/(17)
    mismatch: bool = True              # StackGAN-v2's (real image, wrong caption) = fake term
    mode_seeking: float = 0.0          # weight of the mode-seeking term (MSGAN; 0 = off, paper):
                                       # a batch holds B/2 captions twice, with two noises each
    recon: float = 0.0                 # weight of the low-resolution L1 to the paired real image
                                       # (pix2pix style, losses.recon_loss; 0 = off, paper)
    recon_size: int = 8                # side the fake and the real image are averaged down to
    diff_augment: str = "none"         # none | translation: DiffAugment of D inputs (augment.py)
    ema_decay: float = 0.999           # EMA of the generator used for sampling and evaluation
    amp: bool = True                   # bf16 autocast where the device computes bf16 natively
                                       # (s2igan.device.bf16_native: CUDA, or a CPU with
                                       # AVX512-BF16 / AMX), float32 elsewhere
    device: str = "auto"               # auto | cpu | cuda
    captions_per_image: int = 1        # captions drawn per image per epoch (official: 1)
    sample_captions: int = 8           # fixed test captions in the per-epoch sample grid
    num_threads: int = 0               # torch CPU threads (0 = torch default)
    seed: int = 0
    # Sec. IV-D3 / Table IV: frozen = the pretrained SEN's precomputed embeddings (the paper's
    # S2IGAN); joint = "w/o SEN", a randomly initialised speech encoder trained by the GAN
    # losses alone (Eq. 14 and 16); end_to_end = the SEN from models/sen/best.pt trained on
    # L_G + sen_weight * L_SEN (Eq. 8) together with the generator (s2igan/rdg/speech.py)
    speech_encoder: str = "frozen"
    sen_weight: float = 1.0            # end_to_end: weight of L_SEN in the generator step
    lr_sen: float = 0.0                # speech encoder learning rate (0 = lr_g)

    def __post_init__(self) -> None:
        augmenter(self.diff_augment)   # raises on an unknown kind
        one_of("rdg.speech_encoder", self.speech_encoder, SPEECH_ENCODER_MODES)
        at_least("rdg.sen_weight", self.sen_weight, 0)
        at_least("rdg.lr_sen", self.lr_sen, 0)
        if self.mode_seeking < 0:
            raise ValueError(f"rdg.mode_seeking must be >= 0, got {self.mode_seeking}")
        if self.mode_seeking and self.batch_size < 2:
            raise ValueError("rdg.mode_seeking needs rdg.batch_size >= 2")
        at_least("rdg.epochs", self.epochs, 1)
        at_least("rdg.batch_size", self.batch_size, 1)
        positive("rdg.lr_g", self.lr_g)
        positive("rdg.lr_d", self.lr_d)
        fraction("rdg.lr_decay_from", self.lr_decay_from, closed=True)
        for i, beta in enumerate(self.betas):
            fraction(f"rdg.betas[{i}]", beta)
        at_least("rdg.kl_weight", self.kl_weight, 0)
        at_least("rdg.recon", self.recon, 0)
        at_least("rdg.recon_size", self.recon_size, 1)
        at_least("rdg.uncond_weight", self.uncond_weight, 0)
        fraction("rdg.ema_decay", self.ema_decay)
        at_least("rdg.captions_per_image", self.captions_per_image, 1)
        at_least("rdg.sample_captions", self.sample_captions, 0)
        at_least("rdg.num_threads", self.num_threads, 0)
