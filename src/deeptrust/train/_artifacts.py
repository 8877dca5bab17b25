"""Plots saved beside a training run and logged to MLflow: learning curves, validation confusion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def write_training_plots(out: Path, history: list[dict[str, float]], metrics: dict[str, Any]) -> list[Path]:
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [h["val_accuracy"] for h in history], label="accuracy")
    ax_acc.plot(epochs, [h.get("val_roc_auc", float("nan")) for h in history], label="ROC-AUC")
    ax_acc.set(xlabel="epoch", title="validation")
    ax_acc.legend()
    fig.tight_layout()
    curves = out / "curves.png"
    fig.savefig(curves, dpi=100)
    plt.close(fig)

    names = metrics["class_names"]
    matrix = metrics["confusion_matrix"]
    fig, ax = plt.subplots(figsize=(3.5, 3.2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title="validation confusion")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center")
    fig.tight_layout()
    confusion = out / "confusion_matrix.png"
    fig.savefig(confusion, dpi=100)
    plt.close(fig)
    return [curves, confusion]
