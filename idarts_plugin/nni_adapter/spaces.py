"""NNI model spaces from resolved space specs: the generic cell space, the hub spaces, freezing.

:mod:`idarts_plugin.spaces` reads and validates the space files (no NNI needed); this module
turns a :class:`~idarts_plugin.spaces.SpaceSpec` into an NNI ``ModelSpace``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from nni.mutable import label_scope
from nni.nas.nn.pytorch import LayerChoice, ModelSpace
from torch import Tensor, nn

from ..config import RunConfig
from ..spaces import NORMS, SpaceSpec, load_space

__all__ = [
    "BUILDERS",
    "OP_TABLE",
    "CellSpace",
    "build_space",
    "drop_cell_bn_affine",
    "freeze_architecture",
    "norm_layer",
]


def norm_layer(kind: str, c: int) -> nn.Module:
    """The normalisation ``kind`` (one of :data:`idarts_plugin.spaces.NORMS`) for ``c`` channels."""
    if kind == "batch":
        return nn.BatchNorm2d(c)
    if kind == "group":
        return nn.GroupNorm(1, c)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


class _ReLUConvBN(nn.Sequential):
    def __init__(self, c: int, k: int, dilation: int = 1, norm: str = "batch") -> None:
        pad = dilation * (k - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, padding=pad, dilation=dilation, bias=False),
            norm_layer(norm, c),
        )


class _SepConv(nn.Sequential):
    def __init__(self, c: int, k: int, norm: str = "batch") -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            norm_layer(norm, c),
        )


class _Zero(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


OP_TABLE: Mapping[str, Callable[..., nn.Module]] = {
    "none": lambda c, norm="batch": _Zero(),
    "skip_connect": lambda c, norm="batch": nn.Identity(),
    "conv_1x1": lambda c, norm="batch": _ReLUConvBN(c, 1, norm=norm),
    "conv_3x3": lambda c, norm="batch": _ReLUConvBN(c, 3, norm=norm),
    "conv_5x5": lambda c, norm="batch": _ReLUConvBN(c, 5, norm=norm),
    "sep_conv_3x3": lambda c, norm="batch": _SepConv(c, 3, norm=norm),
    "sep_conv_5x5": lambda c, norm="batch": _SepConv(c, 5, norm=norm),
    "dil_conv_3x3": lambda c, norm="batch": _ReLUConvBN(c, 3, dilation=2, norm=norm),
    "avg_pool_3x3": lambda c, norm="batch": nn.AvgPool2d(
        3, stride=1, padding=1, count_include_pad=False
    ),
    "max_pool_3x3": lambda c, norm="batch": nn.MaxPool2d(3, stride=1, padding=1),
}
"""Op name (:data:`idarts_plugin.spaces.OPS`, in its order) → factory ``(c, norm="batch")`` of
a shape-preserving module with ``c`` channels."""


class _Cell(nn.Module):
    """A DAG cell: node ``j`` sums one ``LayerChoice`` (label ``{i}_{j}``) of each earlier node."""

    def __init__(self, channels: int, nodes: int, ops: list[str], label: str, norm: str) -> None:
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleList()
        # Every cell opens the same label scope, so all cells share one design (one α
        # per edge label ``cell/{i}_{j}``), as NNI's NAS-Bench-201 cell does.
        with label_scope(label):
            for j in range(1, nodes + 1):
                incoming = nn.ModuleList()
                for i in range(j):
                    choices = {name: OP_TABLE[name](channels, norm) for name in ops}
                    incoming.append(LayerChoice(choices, label=f"{i}_{j}"))
                self.edges.append(incoming)

    def forward(self, x: Tensor) -> Tensor:
        """The last node's value."""
        states = [x]
        for incoming in self.edges:
            node = states[0].new_zeros(())
            for i, edge in enumerate(cast(nn.ModuleList, incoming)):
                node = node + edge(states[i])
            states.append(node)
        return states[-1]


class _Reduce(nn.Module):
    """Halve the resolution, change the channels: a strided conv plus a pooled shortcut."""

    def __init__(self, c_in: int, c_out: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
            norm_layer(norm, c_out),
        )
        self.short = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Body plus shortcut."""
        return cast(Tensor, self.body(x) + self.short(x))


class CellSpace(ModelSpace):
    """Stem → [cells × layers, reduce] × stages → pool → linear; one shared cell design.

    The generic cell space of ``search_spaces/cell.yaml`` (ops from
    :data:`OP_TABLE`, one entry per :data:`idarts_plugin.spaces.OPS` name).
    """

    def __init__(
        self,
        *,
        nodes: int = 3,
        ops: tuple[str, ...] = ("none", "skip_connect", "conv_3x3"),
        channels: int = 16,
        layers: int = 1,
        stages: int = 2,
        norm: str = "batch",
        in_channels: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), norm_layer(norm, channels)
        )
        body: list[nn.Module] = []
        c = channels
        for stage in range(stages):
            if stage > 0:
                body.append(_Reduce(c, 2 * c, norm))
                c *= 2
            body.extend(_Cell(c, nodes, list(ops), label="cell", norm=norm) for _ in range(layers))
        self.body = nn.Sequential(*body)
        self.head = nn.Sequential(norm_layer(norm, c), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores."""
        out = self.head(self.body(self.stem(x)))
        return cast(Tensor, self.classifier(out.mean(dim=(2, 3))))


def _nas_bench_201(o: Mapping[str, Any], *, num_classes: int, in_channels: int) -> nn.Module:
    from nni.nas.hub.pytorch import NasBench201

    space: nn.Module = NasBench201(
        stem_out_channels=o["stem_channels"],
        num_modules_per_stack=o["cells_per_stage"],
        num_labels=num_classes,
    )
    if o["cell_bn"] == "non-affine":
        drop_cell_bn_affine(space)
    return space


def drop_cell_bn_affine(space: nn.Module) -> int:
    """Give the BatchNorm layers inside NAS-Bench-201's searched cells no scale and shift.

    NNI's hub ``NasBench201`` builds every op with an affine ``BatchNorm2d``; DARTS' and
    NAS-Bench-201's own search code build the supernet's ops with ``affine=False`` (the
    exported cell is trained with affine BatchNorm either way: :func:`freeze_architecture`
    builds it with ``cell_bn: affine``, as NAS-Bench-201's table was measured). The stem, the
    reduction blocks and the head keep theirs.
    Running statistics are kept (``track_running_stats`` unchanged).

    Args:
        space: a ``NasBench201`` model space (before a one-shot strategy transforms it).

    Returns:
        How many BatchNorm layers were replaced (0: not a NAS-Bench-201 space).

    Example:
        >>> from nni.nas.hub.pytorch import NasBench201
        >>> drop_cell_bn_affine(NasBench201(stem_out_channels=4, num_modules_per_stack=1))
        36
    """
    from nni.nas.hub.pytorch.modules.nasbench201 import NasBench201Cell

    replaced = 0
    for cell in space.modules():
        if not isinstance(cell, NasBench201Cell):
            continue
        for parent in list(cell.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.BatchNorm2d) and child.affine:
                    plain = nn.BatchNorm2d(
                        child.num_features,
                        eps=child.eps,
                        momentum=child.momentum,
                        affine=False,
                        track_running_stats=child.track_running_stats,
                    )
                    setattr(parent, name, plain)
                    replaced += 1
    return replaced


def _darts(o: Mapping[str, Any], *, num_classes: int, in_channels: int) -> nn.Module:
    from nni.nas.hub.pytorch import DARTS as DARTS_SPACE

    space: Any = DARTS_SPACE(width=o["width"], num_cells=o["num_cells"], dataset="cifar")
    if num_classes != space.num_labels:  # the hub space fixes 10 classes for "cifar"
        space.classifier = nn.Linear(space.classifier.in_features, num_classes)
        space.num_labels = num_classes
    return cast(nn.Module, space)


def _cell(o: Mapping[str, Any], *, num_classes: int, in_channels: int) -> nn.Module:
    return CellSpace(
        nodes=o["nodes"],
        ops=tuple(o["ops"]),
        channels=o["channels"],
        layers=o["layers"],
        stages=o["stages"],
        norm=o["norm"],
        in_channels=in_channels,
        num_classes=num_classes,
    )


BUILDERS: Mapping[str, Callable[..., nn.Module]] = MappingProxyType(
    {"nas-bench-201": _nas_bench_201, "darts": _darts, "cell": _cell}
)
"""Space kind (:data:`idarts_plugin.spaces.KINDS`) → the function ``(options, *, num_classes,
in_channels)`` that builds its NNI model space from the validated options."""


def build_space(spec: SpaceSpec, *, num_classes: int, in_channels: int = 3) -> nn.Module:
    """Instantiate the NNI model space described by ``spec``.

    Args:
        spec: from :func:`~idarts_plugin.spaces.load_space`.
        num_classes: classifier outputs.
        in_channels: input channels of the data (the hub spaces need 3; see
            :attr:`~idarts_plugin.spaces.SpaceSpec.in_channels`).
    """
    return BUILDERS[spec.kind](spec.options, num_classes=num_classes, in_channels=in_channels)


def freeze_architecture(
    config: RunConfig, architecture: Mapping[str, Any], *, num_classes: int, in_channels: int
) -> nn.Module:
    """Build the run's model space and freeze it at ``architecture`` (a plain ``nn.Module``).

    Args:
        config: the run config (its ``space`` section; NAS-Bench-201's search-time
            ``cell_bn: non-affine`` is ignored: the exported cell has affine BatchNorm).
        architecture: NNI's export dict (label → chosen op / inputs).
        num_classes: classifier outputs.
        in_channels: input channels of the data.
    """
    spec = load_space(config.space)
    if spec.options.get("cell_bn", "affine") != "affine":  # a search-time choice only
        spec = dataclasses.replace(spec, options={**spec.options, "cell_bn": "affine"})
    space = build_space(spec, num_classes=num_classes, in_channels=in_channels)
    frozen = space.freeze(dict(architecture))  # type: ignore[operator]
    return cast(nn.Module, frozen)
