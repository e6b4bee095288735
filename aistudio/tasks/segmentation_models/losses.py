"""The losses of semantic segmentation: cross-entropy with the ignore index, soft Dice, or both.

Soft Dice (as segmentation-models-pytorch's multiclass ``DiceLoss``): softmax probabilities and
one-hot truth over the valid pixels of the batch (truth :data:`IGNORE_INDEX` left out), per class
``1 - (2 Σ p t + ε) / (Σ p + Σ t + ε)``, averaged over the classes present in the batch's truth
(a class absent from it would only push its probabilities down, which cross-entropy does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from events.schemas.annotation import IGNORE_INDEX

SMOOTH = 1.0


def soft_dice_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean soft Dice loss over the classes present in ``target`` (``[B, H, W]`` indices)."""
    k = logits.shape[1]
    target = target.long()
    valid = target != IGNORE_INDEX
    probabilities = logits.float().softmax(dim=1) * valid.unsqueeze(1)
    onehot = F.one_hot(torch.where(valid, target, 0), k).permute(0, 3, 1, 2).float()
    onehot = onehot * valid.unsqueeze(1)
    dims = (0, 2, 3)
    intersection = (probabilities * onehot).sum(dims)
    sums = probabilities.sum(dims) + onehot.sum(dims)
    dice = (2 * intersection + SMOOTH) / (sums + SMOOTH)
    present = onehot.sum(dims) > 0
    if not bool(present.any()):
        return logits.sum() * 0.0
    return (1.0 - dice)[present].mean()


class SegmentationLoss(nn.Module):
    """``{"cross_entropy": …, "dice": …}`` (the parts asked for) of logits and an index mask."""

    def __init__(
        self, cross_entropy: bool, dice: bool, class_weights: Tensor | None = None
    ) -> None:
        super().__init__()
        if not (cross_entropy or dice):
            raise ValueError("a segmentation loss needs cross-entropy, Dice or both")
        self.cross_entropy = cross_entropy
        self.dice = dice
        self.register_buffer("class_weights", class_weights)

    def forward(self, logits: Tensor, target: Tensor) -> dict[str, Tensor]:
        target = target.long()
        out: dict[str, Tensor] = {}
        if self.cross_entropy:
            if bool((target != IGNORE_INDEX).any()):
                out["cross_entropy"] = F.cross_entropy(
                    logits.float(), target, weight=self.class_weights, ignore_index=IGNORE_INDEX
                )
            else:  # every pixel ignored: nothing to learn (the mean would be 0 / 0)
                out["cross_entropy"] = logits.sum() * 0.0
        if self.dice:
            out["dice"] = soft_dice_loss(logits, target)
        return out
