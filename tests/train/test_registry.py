import pytest
import torch

from deeptrust.train.registry import Classifier, create_model, list_models


@pytest.mark.parametrize("family", list_models())
@pytest.mark.parametrize("num_classes", [2, 3])
def test_every_family_builds_and_exposes_features(family, num_classes):
    model = create_model(family, num_classes=num_classes, pretrained=False).eval()
    assert isinstance(model, Classifier)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
    assert logits.shape == (2, num_classes)
    assert feats.ndim == 4 and feats.shape[1] == model.head.in_features
    # CAM premise: the head is global average pooling + one linear layer over these features.
    assert torch.allclose(model.forward_head(feats), logits, atol=1e-5)


def test_pretrained_lite0_loads_imagenet_weights_from_the_package():
    pretrained = create_model("efficientnet_lite0", num_classes=2, pretrained=True)
    scratch = create_model("efficientnet_lite0", num_classes=2, pretrained=False)
    stem = "features.net._conv_stem.weight"
    assert not torch.equal(pretrained.state_dict()[stem], scratch.state_dict()[stem])


def test_unknown_family_names_the_choices():
    with pytest.raises(ValueError, match="cnn_small"):
        create_model("resnet9000", num_classes=2)
