"""Figures for a run: learning curves, confusion matrix, worst errors. Headless (Agg), written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from digitrec.fileio import atomic_path


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def learning_curves(histories: dict[str, list[dict]], path: Path) -> None:
    """Train/validation accuracy and loss per epoch, one line pair per run (ensembles have several)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for label, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        prefix = f"{label} " if len(histories) > 1 else ""
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            (line,) = ax.plot(epochs, [r[key] for r in rows], label=f"{prefix}training")
            if rows and f"val_{key}" in rows[0]:
                ax.plot(
                    epochs, [r[f"val_{key}"] for r in rows], "--", color=line.get_color(), label=f"{prefix}validation"
                )
    for ax, title in ((ax_loss, "Loss"), (ax_acc, "Accuracy")):
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    _save(fig, path)


def confusion(matrix: np.ndarray, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay(matrix, display_labels=list(range(10))).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d"
    )
    ax.set(title=title, xlabel="Predicted label", ylabel="True label")
    _save(fig, path)


def worst_errors(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, path: Path, count: int = 12) -> None:
    """The misclassified images the model was most sure about, with true/predicted labels and probabilities."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    # Rank by how much more probability went to the wrong answer than to the true one.
    margin = probs[wrong, predicted[wrong]] - probs[wrong, labels[wrong]]
    worst = wrong[np.argsort(-margin)][:count]
    cols = 6
    rows = max(1, -(-len(worst) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, worst):
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(
            f"true {labels[i]}  pred {predicted[i]}\np={probs[i, predicted[i]]:.2f} (true {probs[i, labels[i]]:.2f})",
            fontsize=8,
        )
    if len(worst) == 0:
        axes.flat[0].text(0.5, 0.5, "no errors", ha="center", va="center")
    fig.suptitle(f"Worst errors ({len(wrong)} misclassified)")
    _save(fig, path)
