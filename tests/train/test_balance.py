"""Source-balanced sampling (``optim.balance``): who gets drawn, and that training draws that way."""

import numpy as np
import pandas as pd
import pytest
import torch

from deeptrust.train import loop
from deeptrust.train.config import load_config
from deeptrust.train.data import SplitPixels, group_weights

from .test_loop import write_config


def rows(groups: dict[tuple[str, str], int], dataset: str | None = None) -> pd.DataFrame:
    out = [{"label": label, "source": source} for (label, source), n in groups.items() for _ in range(n)]
    frame = pd.DataFrame(out)
    if dataset is not None:
        frame["dataset"] = dataset
    return frame


def group_shares(frame: pd.DataFrame, p: np.ndarray) -> dict[tuple[str, str], float]:
    keys = list(zip(frame["label"], frame["source"], strict=True))
    return {k: round(float(p[[i for i, key in enumerate(keys) if key == k]].sum()), 6) for k in set(keys)}


def test_balance_one_gives_every_label_and_source_the_same_share():
    frame = rows({("REAL", "imagenet"): 300, ("REAL", "cars"): 10, ("FAKE", "sd"): 90})
    shares = group_shares(frame, group_weights(frame, 1.0))
    assert shares == {
        ("REAL", "imagenet"): pytest.approx(1 / 3),
        ("REAL", "cars"): pytest.approx(1 / 3),
        ("FAKE", "sd"): pytest.approx(1 / 3),
    }


def test_balance_half_weighs_groups_by_the_square_root_of_their_size():
    frame = rows({("REAL", "a"): 400, ("REAL", "b"): 100})
    shares = group_shares(frame, group_weights(frame, 0.5))
    assert shares[("REAL", "a")] == pytest.approx(2 / 3)  # sqrt(400) : sqrt(100) = 2 : 1
    assert group_weights(frame, 0.0) == pytest.approx(np.full(500, 1 / 500))


def test_the_same_source_name_under_two_labels_is_two_groups():
    frame = rows({("REAL", "truman"): 30, ("FAKE", "truman"): 10})
    p = group_weights(frame, 1.0)
    assert p[:30].sum() == pytest.approx(0.5) and p[30:].sum() == pytest.approx(0.5)


def test_images_without_a_source_weigh_in_as_their_dataset():
    frame = pd.concat([rows({("REAL", "a"): 20}, "multigen"), rows({("REAL", ""): 60}, "photos-1.0-data")])
    frame.loc[frame["dataset"] == "photos-1.0-data", "source"] = None
    p = group_weights(frame.reset_index(drop=True), 1.0)
    assert p[:20].sum() == pytest.approx(0.5) and p[20:].sum() == pytest.approx(0.5)


def test_training_draws_small_sources_as_often_as_large_ones(tmp_path, binary_folder, monkeypatch):
    """One epoch under ``balance: 1`` draws the two groups about equally; unbalanced, by their size."""
    config = load_config(write_config(tmp_path, binary_folder, epochs=1))
    labels = np.array([0] * 180 + [1] * 20)
    split = SplitPixels(
        [np.zeros((32, 32, 3), np.uint8)] * 200,
        labels,
        pd.DataFrame({"label": np.where(labels == 0, "FAKE", "REAL"), "source": ""}),
    )
    drawn: list[np.ndarray] = []
    monkeypatch.setattr(loop, "augmented_batch", lambda s, idx, *a: (drawn.append(idx), _batch(idx))[1])
    model = loop.build_model(config, num_classes=2)
    for balance, real_share in ((0.0, 0.1), (1.0, 0.5)):
        drawn.clear()
        cfg = config.model_copy(
            update={
                "optim": config.optim.model_copy(
                    update={"balance": balance, "samples_per_epoch": 4000, "batch_size": 500}
                )
            }
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        loop.train_one_epoch(model, opt, sched, split, cfg, np.random.default_rng(0), show=False)
        share = float(np.mean(labels[np.concatenate(drawn)] == 1))
        assert share == pytest.approx(real_share, abs=0.03)


def _batch(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(len(idx), 3, 32, 32), torch.zeros(len(idx), dtype=torch.long)


def test_balance_outside_zero_to_one_is_refused(tmp_path, binary_folder):
    with pytest.raises(ValueError, match="balance"):
        load_config(write_config(tmp_path, binary_folder, epochs=1), **{"optim.balance": 2})
