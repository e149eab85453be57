"""fp32 linear layers through oneDNN on the CPU: the ``"fp32"`` runtime's kernels.

PyTorch's CPU ``nn.Linear`` calls the BLAS it was built with (MKL in the official wheels).
MKL picks its code path by CPU vendor: on AMD EPYC CPUs with AVX-512 it runs its AVX2
kernels, half the vector width. oneDNN (bundled with torch as ``mkldnn``) picks its code by
the instruction sets the CPU reports, and can apply the activation inside the same kernel.
For the ``"fp32"`` runtime on the CPU the engine therefore runs a private copy of the
model (:func:`to_onednn`) in which every ``nn.Linear`` of the encoder is a
:class:`OneDnnLinear`: its weight reordered once into oneDNN's blocked layout
(``torch.ops.mkldnn._reorder_linear_weight``), the product computed by
``torch.ops.mkldnn._linear_pointwise``, and the GELU of BERT's intermediate layer fused
into that kernel. Still float32 throughout: outputs equal the plain model's up to float
rounding (the engine's 1e-5 reference test covers it).

Measured on a 2-core AMD EPYC with AVX-512 (one thread, 16 × 64 tokens through a
me5-small-shaped encoder): 819 ms with MKL, 401 ms with oneDNN linear layers.

The copy shares the source model's embedding tables (not linear layers) and plain
attributes, so it adds the encoder's linear weights to memory once more (me5-small: 85 MB;
NB-BERT-base: 340 MB). ``NOKODING_FP32_KERNELS=aten`` turns it off (the model then runs as
is, with torch's own kernels).
"""

from __future__ import annotations

import os

import torch

__all__ = ["OneDnnLinear", "onednn_available", "to_onednn"]

#: Rows the weight layout is chosen for (the engine's CPU batches hold up to 1,024 tokens).
LAYOUT_ROWS = 1024


def onednn_available() -> bool:
    """Whether the ``"fp32"`` runtime uses oneDNN linear layers: torch built with oneDNN
    (``torch.backends.mkldnn``) and its linear operators, and ``NOKODING_FP32_KERNELS`` not
    set to ``aten``."""
    if os.environ.get("NOKODING_FP32_KERNELS", "").lower() == "aten":
        return False
    ops = torch.ops.mkldnn
    return bool(torch.backends.mkldnn.is_available()) and all(
        hasattr(ops, name) for name in ("_linear_pointwise", "_reorder_linear_weight")
    )


class OneDnnLinear(torch.nn.Module):
    """An fp32 ``nn.Linear`` (optionally followed by exact GELU) computed by oneDNN.

    Args:
        linear: the layer to replace (its weight is read, not kept).
        gelu: apply the exact (erf) GELU inside the kernel.
    """

    def __init__(self, linear: torch.nn.Linear, *, gelu: bool = False) -> None:
        super().__init__()
        weight = linear.weight.detach().float().contiguous()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight, LAYOUT_ROWS)
        self.bias = None if linear.bias is None else linear.bias.detach().float().contiguous()
        self.attr, self.algorithm = ("gelu", "none") if gelu else ("none", "")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``float32[..., in_features]`` → ``float32[..., out_features]``."""
        return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, self.attr, [], self.algorithm)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.attr}"


def _exact_gelu(module: torch.nn.Module) -> bool:
    from transformers.activations import GELUActivation

    return type(module) is GELUActivation and getattr(module, "act", None) is torch.nn.functional.gelu


def to_onednn(model: torch.nn.Module) -> torch.nn.Module:
    """Replace the encoder's ``nn.Linear`` layers of an fp32 CPU ``model`` by :class:`OneDnnLinear`,
    in place (pass a private copy).

    Every ``nn.Linear`` inside the model's Hugging Face encoder
    (:func:`nokoding.inference.runtime.hf_encoder`; the whole model when it has none) is
    replaced; where a module applies an exact GELU right after its ``dense`` layer (BERT's
    intermediate layer: ``dense`` then ``intermediate_act_fn``), the GELU moves into the
    kernel and the activation becomes ``nn.Identity``.

    Returns:
        ``model``.
    """
    from nokoding.inference.runtime import hf_encoder

    found = hf_encoder(model)
    root = found[1] if found is not None else model
    for module in list(root.modules()):
        dense, act = getattr(module, "dense", None), getattr(module, "intermediate_act_fn", None)
        if isinstance(dense, torch.nn.Linear) and act is not None and _exact_gelu(act):
            module.dense = OneDnnLinear(dense, gelu=True)
            module.intermediate_act_fn = torch.nn.Identity()
    for name, module in list(root.named_modules()):
        if type(module) is torch.nn.Linear:
            parent, _, child = name.rpartition(".")
            setattr(root.get_submodule(parent) if parent else root, child, OneDnnLinear(module))
    return model
