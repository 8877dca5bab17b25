import json
from pathlib import Path

import pytest
import torch

from deeptrust.train.config import load_config
from deeptrust.train.loop import train


def write_config(tmp_path, source, *, name="tiny", epochs=2, **extra) -> Path:
    import yaml

    cfg = {
        "name": name,
        "model": {"family": "cnn_small", "pretrained": False},
        "data": {"source": str(source), "val_fraction": 0.25},
        "input": {
            "size": 32,
            "crop": "resize",
            "num_crops": 1,
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
        },
        "optim": {
            "epochs": epochs,
            "batch_size": 16,
            "lr": 0.003,
            "patience": 5,
            "bf16": False,
            "samples_per_epoch": 160,
        },
        "out_dir": str(tmp_path / "runs" / name),
        **extra,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_binary_training_learns_and_writes_a_run(tmp_path, binary_folder):
    run = train(load_config(write_config(tmp_path, binary_folder, epochs=4)), show=False)
    summary = json.loads((run / "summary.json").read_text())
    assert (run / "best.pt").exists() and (run / "last.pt").exists()
    assert summary["class_names"] == ["FAKE", "REAL"]
    assert summary["validation"]["roc_auc"] > 0.9  # the synthetic classes are easy
    assert 0.0 <= summary["threshold"] <= 1.0
    assert len(summary["history"]) == summary["epochs_run"] == 4
    assert (run / "curves.png").exists() and (run / "confusion_matrix.png").exists()


def test_three_classes_go_through_the_same_code(tmp_path, three_class_folder):
    run = train(load_config(write_config(tmp_path, three_class_folder, name="three", epochs=3)), show=False)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["class_names"] == ["AI", "DEEPFAKE", "REAL"]
    assert len(summary["validation"]["confusion_matrix"]) == 3
    assert "multiclass_accuracy" in summary["validation"]


def test_resume_continues_from_the_checkpoint(tmp_path, binary_folder):
    cfg_path = write_config(tmp_path, binary_folder, epochs=2)
    run = train(load_config(cfg_path), show=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(load_config(cfg_path), show=False)
    # Same config but more epochs is a different config: resuming must refuse it.
    with pytest.raises(ValueError, match="different config"):
        train(load_config(cfg_path, **{"optim.epochs": 3}), resume=True, show=False)
    ckpt = torch.load(run / "last.pt", weights_only=False)
    ckpt["state"]["epoch"] = 1  # pretend the run was killed after its first epoch
    ckpt["state"]["history"] = ckpt["state"]["history"][:1]
    torch.save(ckpt, run / "last.pt")
    train(load_config(cfg_path), resume=True, show=False)
    history = json.loads((run / "summary.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]


def test_runs_are_tracked_in_mlflow(tmp_path, binary_folder, isolated_home):
    import mlflow

    run = train(load_config(write_config(tmp_path, binary_folder, epochs=2)), show=False)
    run_id = json.loads((run / "summary.json").read_text())["mlflow_run_id"]
    logged = mlflow.get_run(run_id)
    assert logged.data.params["model.family"] == "cnn_small"
    assert len(logged.data.params["dataset.hash"]) >= 16
    history = mlflow.MlflowClient().get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    assert {"curves.png", "confusion_matrix.png", "summary.json"} <= artifacts


def test_bad_config_is_refused_with_the_key(tmp_path, binary_folder):
    path = write_config(tmp_path, binary_folder)
    with pytest.raises(Exception, match="optim"):
        load_config(path, **{"optim.epochz": 3})


def test_ema_weights_are_what_is_validated_checkpointed_and_resumed(tmp_path, binary_folder):
    cfg_path = write_config(tmp_path, binary_folder, name="ema", epochs=2)
    config = load_config(cfg_path, **{"optim.ema": 0.9})
    run = train(config, show=False)
    last = torch.load(run / "last.pt", weights_only=False)
    assert last["ema_n_averaged"] == 2 * 10  # one update per step: 160 samples / 16 per batch, 2 epochs
    averaged, raw = last["model"], last["train_model"]
    # The exported ("model") weights are the average, not the last step's weights.
    assert any(not torch.equal(averaged[k], raw[k]) for k in averaged if averaged[k].is_floating_point())
    last["state"]["epoch"] = 1
    last["state"]["history"] = last["state"]["history"][:1]
    last["ema_n_averaged"] = 10
    torch.save(last, run / "last.pt")
    train(config, resume=True, show=False)
    resumed = torch.load(run / "last.pt", weights_only=False)
    assert resumed["ema_n_averaged"] == 20


def test_translate_shifts_with_reflected_edges():
    import numpy as np

    from deeptrust.train.augment import translate

    pixels = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    seen = set()
    for seed in range(40):
        out = translate(pixels, 2, np.random.default_rng(seed))
        assert out.shape == pixels.shape
        # Every output is the input moved by (dy, dx) in [-2, 2]: its interior matches a shifted window.
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(out[2:6, 2:6], pixels[2 - dy : 6 - dy, 2 - dx : 6 - dx])
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 10  # the shift is random, not one fixed offset


def test_erase_blanks_one_square_and_keeps_the_rest():
    import numpy as np

    from deeptrust.train.augment import erase

    pixels = np.random.default_rng(0).integers(0, 128, size=(16, 16, 3), dtype=np.uint8)
    before = pixels.copy()
    sizes = set()
    for seed in range(30):
        out = erase(pixels, 6, np.random.default_rng(seed))
        blanked = np.all(out == 128, axis=2)
        rows, cols = np.nonzero(blanked)
        assert blanked.sum() > 0
        # One axis-aligned box, at most 6×6 (smaller where it meets the border), everything else intact.
        assert np.ptp(rows) < 6 and np.ptp(cols) < 6
        assert blanked.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
        assert np.array_equal(out[~blanked], pixels[~blanked])
        sizes.add(int(blanked.sum()))
    assert np.array_equal(pixels, before)  # the input is not modified
    assert 36 in sizes and min(sizes) < 36  # full squares inside, clipped ones at the border


def test_limit_per_split_takes_a_seeded_sample_of_each_split_and_label(tmp_path, binary_folder):
    from deeptrust.settings import Settings
    from deeptrust.train.loop import prepare_data

    path = write_config(tmp_path, binary_folder)
    import yaml

    cfg = yaml.safe_load(path.read_text())
    cfg["data"]["limit_per_split"] = 3
    path.write_text(yaml.safe_dump(cfg))
    first = prepare_data(load_config(path), Settings(), show=False)
    again = prepare_data(load_config(path), Settings(), show=False)
    for split in ("train", "val"):
        labels = first[split].rows["label"].value_counts().to_dict()
        assert labels == {"FAKE": 3, "REAL": 3}
        assert list(first[split].rows["sha256"]) == list(again[split].rows["sha256"])


def test_rot90_applies_a_lossless_quarter_turn_or_vertical_flip():
    import numpy as np

    from deeptrust.train.augment import augment
    from deeptrust.train.config import AugmentConfig, InputConfig

    pixels = np.random.default_rng(1).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    moves = {
        "rot90": np.rot90(pixels, 1),
        "rot180": np.rot90(pixels, 2),
        "rot270": np.rot90(pixels, 3),
        "vflip": pixels[::-1],
    }
    aug = AugmentConfig(hflip=0, resize_p=0, blur_p=0, jpeg_p=0, rot90=1.0)
    inp = InputConfig(size=8, crop="resize", num_crops=1)
    seen = set()
    for seed in range(40):
        out = augment(pixels, aug, inp, np.random.default_rng(seed))
        matches = [name for name, moved in moves.items() if np.array_equal(out, moved)]
        assert len(matches) == 1  # exactly one of the four moves, every pixel kept
        seen.add(matches[0])
    assert seen == set(moves)
    never = AugmentConfig(hflip=0, resize_p=0, blur_p=0, jpeg_p=0)  # rot90 defaults to off
    assert np.array_equal(augment(pixels, never, inp, np.random.default_rng(0)), pixels)


def test_sgd_optimizer_is_nesterov_with_the_configured_momentum_and_learns(tmp_path, binary_folder):
    from deeptrust.train.loop import training_setup

    path = write_config(
        tmp_path,
        binary_folder,
        name="sgd",
        optim={
            "optimizer": "sgd",
            "momentum": 0.85,
            "epochs": 4,
            "batch_size": 16,
            "lr": 0.03,
            "weight_decay": 0.0005,
            "bf16": False,
            "samples_per_epoch": 160,
        },
    )
    config = load_config(path)
    _, opt, _, _ = training_setup(config, 2, steps_per_epoch=10)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.85
    assert opt.defaults["weight_decay"] == 0.0005
    summary = json.loads((train(config, show=False) / "summary.json").read_text())
    assert summary["validation"]["roc_auc"] > 0.9


@pytest.mark.parametrize(("batch", "world"), [(8, 2), (7, 2), (3, 4)])
def test_sharded_losses_average_to_the_whole_batch_gradient(batch, world):
    """What DDP computes from the Ray engine's per-rank losses (the mean of the ranks' gradients)
    is the gradient of the whole batch's mean loss, for uneven slices and empty ones too (a batch
    smaller than the world). Checked without BatchNorm, the one layer that differs per rank."""
    from torch import nn

    from deeptrust.train.loop import _sharded_loss

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x, y = torch.randn(batch, 3, 8, 8), torch.randint(0, 2, (batch,))

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    whole = grads(nn.functional.cross_entropy(model(x), y, label_smoothing=0.1))
    per_rank, counts, sums = [], [], []
    for rank in range(world):
        loss, summed, count = _sharded_loss(model, x, y, (rank, world), 0.1)
        per_rank.append(grads(loss))
        counts.append(count)
        sums.append(summed)
    averaged = [sum(g[i] for g in per_rank) / world for i in range(len(whole))]
    for a, w in zip(averaged, whole, strict=True):
        torch.testing.assert_close(a, w, rtol=1e-5, atol=1e-6)
    assert sum(counts) == batch  # every sample once; an empty slice counts none
    full = nn.functional.cross_entropy(model(x), y, label_smoothing=0.1, reduction="sum")
    assert sum(sums) == pytest.approx(float(full), rel=1e-5)
