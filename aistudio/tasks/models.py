"""The image backbones every image-level task offers, and how they are built.

The catalogue (:data:`MODELS`) is torch-free: the web process shows it in the training form and
validates commands with it. :func:`build_backbone` imports torch and torchvision when called (in
a job process only) and builds a torchvision network with a new head of ``n`` outputs.

ImageNet weights are never downloaded. When asked for, they are read from the local torch hub
cache (``torch.hub.get_dir()/checkpoints``) under the file name torchvision itself would use
(the last part of the weights enum's ``url``); when the file is not there, the model trains from
scratch and the returned sentence says so and where it looked.

Small inputs: every backbone here is fully convolutional with global average pooling and a total
stride of 32, so any input of at least 32 px leaves one feature pixel and the network runs.
torchvision builds the MobileNetV3 models with a BatchNorm momentum of 0.01 (the ImageNet recipe
of hundreds of thousands of steps); on a small data set trained from scratch, the running
statistics then lag far behind the weights and evaluation (which uses them) scores chance, at any
image size, while the same network in training mode is right. :func:`build_backbone` therefore
sets every BatchNorm momentum to PyTorch's default 0.1 (measured on scikit-learn's digits at 32 px,
6 epochs from scratch: MobileNetV3-Small 0.10 → 0.92, MobileNetV3-Large 0.10 → 0.92 accuracy).
Even at 0.1, any BatchNorm network evaluated in its first few dozen steps from scratch lags
(ResNet-18 too, MobileNetV3 a little longer); :func:`recalibrate_batchnorm` recomputes the
statistics for the current weights before an evaluation when that matters.
"""

from __future__ import annotations

import itertools
import logging
import pickle
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aistudio.tasks.base import ModelSpec, TargetInfo, TaskInputError
from aistudio.tasks.per_image import PerImageTask

if TYPE_CHECKING:  # importing this module stays torch-free
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "resnet18"
BATCHNORM_MOMENTUM = 0.1
"""BatchNorm momentum of every built backbone (torchvision's MobileNetV3 default, 0.01, fails)."""
WEIGHTS_SENTENCE_MAX = 300
"""Longest weights sentence (``TrainingStarted.weights`` holds at most 300 characters)."""

IMAGENET_WEIGHTS = "ImageNet weights from the local cache"
NOT_REQUESTED = "from scratch (pretrained weights not requested)"

_SMALL_INPUT = 32  # total stride of every backbone below: one feature pixel is left at 32 px
_EFFICIENTNET_NOTE = (
    "learns more slowly from scratch than ResNet on small data sets: prefer cached ImageNet "
    "weights or more epochs"
)
_MOBILENET_NOTE = (
    "BatchNorm momentum set to 0.1 (torchvision's 0.01 left evaluation at chance from scratch)"
)


@dataclass(frozen=True)
class _Backbone:
    """How to build one catalogue entry with torchvision."""

    spec: ModelSpec
    head: Literal["fc", "classifier"]
    """``fc``: ResNet's last Linear; ``classifier``: the last Linear of ``classifier``."""


_BACKBONES: tuple[_Backbone, ...] = (
    _Backbone(ModelSpec("resnet18", "ResNet-18", 11.7, _SMALL_INPUT), "fc"),
    _Backbone(ModelSpec("resnet34", "ResNet-34", 21.8, _SMALL_INPUT), "fc"),
    _Backbone(
        ModelSpec("resnet50", "ResNet-50", 25.6, _SMALL_INPUT, "slow on CPU: prefer a GPU"), "fc"
    ),
    _Backbone(
        ModelSpec("efficientnet_b0", "EfficientNet-B0", 5.3, _SMALL_INPUT, _EFFICIENTNET_NOTE),
        "classifier",
    ),
    _Backbone(
        ModelSpec("efficientnet_b3", "EfficientNet-B3", 12.2, _SMALL_INPUT, _EFFICIENTNET_NOTE),
        "classifier",
    ),
    _Backbone(
        ModelSpec("mobilenet_v3_small", "MobileNetV3-Small", 2.5, _SMALL_INPUT, _MOBILENET_NOTE),
        "classifier",
    ),
    _Backbone(
        ModelSpec("mobilenet_v3_large", "MobileNetV3-Large", 5.5, _SMALL_INPUT, _MOBILENET_NOTE),
        "classifier",
    ),
)

MODELS: tuple[ModelSpec, ...] = tuple(b.spec for b in _BACKBONES)
"""The backbones offered, smallest family first within each family (names are torchvision's)."""


def _backbone(name: str) -> _Backbone:
    for backbone in _BACKBONES:
        if backbone.spec.name == name:
            return backbone
    choices = ", ".join(spec.name for spec in MODELS)
    raise ValueError(f"unknown model {name!r}: choose one of {choices}")


def imagenet_weights_files(name: str) -> list[str]:
    """File names torchvision gives the ImageNet weights of ``name``, its default first.

    Args:
        name: a model of :data:`MODELS`.

    Returns:
        The last part of each weights enum member's ``url`` (e.g. ``resnet18-f37072fd.pth``),
        the ``DEFAULT`` member's first, without duplicates.
    """
    from torchvision.models import get_model_weights

    _backbone(name)
    enum = get_model_weights(name)
    members = [enum.DEFAULT, *(member for member in enum if member is not enum.DEFAULT)]
    files: list[str] = []
    for member in members:
        file_name = member.url.rsplit("/", 1)[-1]
        if file_name not in files:
            files.append(file_name)
    return files


def weights_cache_dir() -> Path:
    """The folder torch keeps downloaded weights in: ``torch.hub.get_dir()/checkpoints``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights_path(name: str) -> Path:
    """Where the default ImageNet weights of ``name`` are expected in the local torch cache."""
    return weights_cache_dir() / imagenet_weights_files(name)[0]


def find_cached_weights(name: str) -> Path | None:
    """The ImageNet weights file of ``name`` in the local torch cache, if one is there.

    The default weights are preferred; an older version torchvision also publishes (e.g.
    ResNet-50's ``IMAGENET1K_V1``) is used when only that one is cached.
    """
    cache = weights_cache_dir()
    for file_name in imagenet_weights_files(name):
        path = cache / file_name
        if path.is_file():
            return path
    return None


def _from_scratch_sentence(title: str, path: Path) -> str:
    head = f"from scratch: no ImageNet weights for {title} in the local torch cache ("
    where = str(path)
    room = WEIGHTS_SENTENCE_MAX - len(head) - 1
    if len(where) > room:  # keep the file name and the end of the folder
        where = "…" + where[len(where) - room + 1 :]
    return f"{head}{where})"


def _load_weights(model: nn.Module, path: Path) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError(f"it holds a {type(state).__name__}, not a state dict")
        model.load_state_dict(state)
    except (OSError, EOFError, RuntimeError, TypeError, pickle.UnpicklingError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TaskInputError(
            f"the cached ImageNet weights {path} cannot be loaded ({reason[:200]}): "
            "delete the file or train without pretrained weights"
        ) from err


def _replace_head(model: nn.Module, head: Literal["fc", "classifier"], outputs: int) -> None:
    from torch import nn

    if head == "fc":
        old = model.fc
        if not isinstance(old, nn.Linear):
            raise TypeError(f"expected a Linear fc, found {type(old).__name__}")
        model.fc = nn.Linear(old.in_features, outputs)
        return
    classifier = model.classifier
    old = classifier[-1]
    if not isinstance(old, nn.Linear):
        raise TypeError(f"expected a Linear at classifier[-1], found {type(old).__name__}")
    classifier[-1] = nn.Linear(old.in_features, outputs)


def build_backbone(name: str, outputs: int, pretrained_weights: bool) -> tuple[nn.Module, str]:
    """Build backbone ``name`` with a new Linear head of ``outputs`` outputs.

    The torchvision network is created without weights (nothing is downloaded). With
    ``pretrained_weights``, its ImageNet weights are loaded from the local torch cache when the
    file is there (``weights_only=True``), before the head is replaced. Every BatchNorm momentum
    is then set to :data:`BATCHNORM_MOMENTUM` (see the module docstring).

    Args:
        name: a model of :data:`MODELS`.
        outputs: size of the new head (classes, or 1 for a value).
        pretrained_weights: whether ImageNet weights are wanted.

    Returns:
        The network and a sentence on its weights: :data:`IMAGENET_WEIGHTS`,
        :data:`NOT_REQUESTED`, or "from scratch: no ImageNet weights for X in the local torch
        cache (<path>)".

    Raises:
        ValueError: unknown model or fewer than one output.
        TaskInputError: a cached weights file is there but cannot be loaded.
    """
    from torch import nn
    from torchvision.models import get_model

    backbone = _backbone(name)
    if outputs < 1:
        raise ValueError(f"a head needs at least one output, got {outputs}")
    model = get_model(name, weights=None)
    if not pretrained_weights:
        sentence = NOT_REQUESTED
    else:
        path = find_cached_weights(name)
        if path is None:
            sentence = _from_scratch_sentence(backbone.spec.title, cached_weights_path(name))
        else:
            _load_weights(model, path)
            sentence = IMAGENET_WEIGHTS
            logger.info("loaded ImageNet weights of %s from %s", name, path)
    _replace_head(model, backbone.head, outputs)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = BATCHNORM_MOMENTUM
    return model, sentence


def load_trunk_weights(
    modules: Mapping[str, nn.Module], name: str, title: str, pretrained_weights: bool
) -> str:
    """Copy the cached ImageNet weights of torchvision's ``name`` into ``modules`` (the modules
    of a network that hold the torchvision model's parts, by the torchvision model's names), and
    say what was done: :data:`IMAGENET_WEIGHTS`, :data:`NOT_REQUESTED` or the from-scratch
    sentence naming where the weights were looked for. Nothing is downloaded.

    Raises:
        TaskInputError: a cached weights file is there but cannot be loaded.
    """
    if not pretrained_weights:
        return NOT_REQUESTED
    path = find_cached_weights(name)
    if path is None:
        return _from_scratch_sentence(title, cached_weights_path(name))
    from torchvision.models import get_model

    source = get_model(name, weights=None)
    _load_weights(source, path)
    for part, module in modules.items():
        module.load_state_dict(source.get_submodule(part).state_dict())
    logger.info("loaded ImageNet weights of %s from %s", name, path)
    return IMAGENET_WEIGHTS


class BackboneTask(PerImageTask):
    """A task predicting from a whole image with one of :data:`MODELS` and a Linear head."""

    models = MODELS
    default_model = DEFAULT_MODEL

    @abstractmethod
    def head_outputs(self, info: TargetInfo) -> int:
        """How many outputs the head has for these targets."""

    def build_model(
        self, model: str, info: TargetInfo, pretrained_weights: bool, image_size: int = 0
    ) -> tuple[nn.Module, str]:
        """Backbone ``model`` with :meth:`head_outputs` outputs, and the sentence on its weights.

        See :func:`build_backbone` (it runs at any input size of 32 px or more).
        """
        self.model_spec(model)
        return build_backbone(model, self.head_outputs(info), pretrained_weights)


def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Recompute the BatchNorm running statistics for the model's current weights ("precise BN").

    Evaluation uses running averages of the batch statistics seen while the weights changed; in
    the first few dozen steps from scratch they lag the weights and evaluation scores near chance
    although the network is right in training mode (seen on digits at 32 px: MobileNetV3-Small
    after one epoch of 12 steps scored 0.14 in evaluation mode, 0.66 after this recalibration).
    This runs the model in training mode without gradients over ``batches`` and sets each
    running statistic to the plain average over them; the layers' momentum and the model's mode
    are restored afterwards. It costs one forward pass per batch.

    Args:
        model: any network; without BatchNorm layers nothing is run.
        batches: input tensors (already on the model's device), e.g. training images without
            augmentation.

    Returns:
        How many batches were run (0: the statistics are unchanged).
    """
    import torch
    from torch import nn

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    iterator = iter(batches)
    first = next(iterator, None)
    if not norms or first is None:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    count = 0
    try:
        with torch.no_grad():
            for batch in itertools.chain([first], iterator):
                model(batch)
                count += 1
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.train(was_training)
    return count
