"""The ``"int8"`` CPU runtime: smoothed, dynamically quantised linear layers.

Recipe (applied to a private fp32 copy of the model, never to the source):

1. **Smoothing** (SmoothQuant, Xiao et al. 2023, "SmoothQuant: Accurate and Efficient
   Post-Training Quantization for Large Language Models", ICML, eq. 4): a few input
   channels of an encoder's linear layers carry much larger activations than the rest, and
   one activation scale per batch then leaves the other channels with few int8 levels. For
   every quantised layer the activations' largest absolute value per input channel
   ``a_j`` is measured on *calibration texts* (:func:`calibration_texts`), and with the
   weights' largest absolute value per input channel ``w_j`` the layer is rewritten as
   ``y = (x · s⁻¹) (W · s)ᵀ + b`` with ``s_j = a_j^α / w_j^(1-α)`` — the same function in
   exact arithmetic, but with activation outliers moved into the weights, which have one
   scale per output row. α = :data:`SMOOTHING_ALPHA`. The division by ``s`` is one
   element-wise multiply per layer (:class:`ScaledInput`).
2. **Dynamic int8 quantisation** (``torch.ao.quantization.quantize_dynamic``; fbgemm/x86
   kernels): weights int8 with one scale per output row, activations quantised on the fly
   with one scale per batch. The weights use the 7-bit range −64…63 so that the activations
   can use the full unsigned 8-bit range 0…255 (:class:`Int8Linear`): AVX2's int8
   multiply-add sums pairs of ``u8 × s8`` products into 16 bits, and ``2 × 255 × 64 =
   32,640`` still fits, while PyTorch's default keeps 8-bit weights and gives up one bit of
   the activations (``reduce_range=True``). With the shipped model, the activation bit was
   worth more than the weight bit.
3. **Outlier tokens** (a per-token form of the same problem, which per-channel smoothing
   cannot fix): in the FFN output layers a few tokens — with the shipped model the
   sequence's first and last special tokens — carry inputs 5–9 times larger than the
   median token's, and one scale per batch then leaves the other tokens about three bits
   fewer. Layers where a second calibration pass (after smoothing) finds a token above
   :data:`SPLIT_LAYER_RATIO` × the median quantise, at inference, the rows above
   :data:`OUTLIER_TOKEN_RATIO` × the batch's median row separately from the rest (two
   int8 calls, each with its own activation scale).

Which layers: every ``nn.Linear`` of the encoder (:func:`int8_layer_names`) — its attention
and FFN projections, not the classification heads. The int8 copy shares the source model's
embedding tables (they are not quantised), so it adds only the int8 weights to memory.

Measured with the shipped model (``python benchmarks/bench_int8_agreement.py``; README,
"Speed"): see ``benchmarks/results/int8_agreement_cpu.md``. An int8 result depends slightly
on which other segments share its batch (the per-batch activation scale).

torch ≥ 2.9 marks ``torch.ao.quantization`` deprecated in favour of ``torchao``; it still
works in torch 2.13 (the deprecation warnings are silenced here) and is the only int8 CPU
path that needs no extra package.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.ao.nn.quantized.dynamic import Linear as _DynamicLinear

__all__ = [
    "MAX_CALIBRATION_TEXTS",
    "OUTLIER_TOKEN_RATIO",
    "SMOOTHING_ALPHA",
    "SPLIT_LAYER_RATIO",
    "WEIGHT_RANGE",
    "Int8Linear",
    "ScaledInput",
    "activation_absmax",
    "calibration_texts",
    "int8_layer_names",
    "quantize_int8",
    "smooth",
    "token_peak_ratio",
]

#: SmoothQuant's migration strength α (0: all difficulty stays in the activations, 1: all
#: moves to the weights). Chosen on the shipped model among 0.5–0.9 by top-code agreement
#: with fp32 on unseen thesis prose (0.7 best; 0.5 and 0.9 clearly worse).
SMOOTHING_ALPHA = 0.7
#: Calibration uses at most this many texts (the first ones, in the model's order).
MAX_CALIBRATION_TEXTS = 128
#: Signed 7-bit weight range, so activations can keep all 8 bits (see the module docstring).
WEIGHT_RANGE = (-64, 63)
#: A quantised layer splits its batch's rows (tokens) when, on the calibration texts after
#: smoothing, some token's largest input was this many times the median token's (step 3 of
#: the module docstring). With the shipped model that picks the FFN output layers of
#: layers 0–8 (ratios 4.5–9.4; every other layer ≤ 3.0).
SPLIT_LAYER_RATIO = 4.0
#: In such a layer, tokens whose largest input exceeds this many times the batch's median
#: token get their own activation scale.
OUTLIER_TOKEN_RATIO = 3.0


def int8_layer_names(model: torch.nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` layers that the ``"int8"`` runtime quantises.

    Every linear layer inside the encoder — the first Hugging Face ``PreTrainedModel`` in
    ``model`` (:func:`nokoding.inference.runtime.hf_encoder`): its attention and FFN
    projections — never a classification head outside it (a head's few weights cost nothing
    in fp32, and its rounding would land directly on the logits). A model without a Hugging
    Face encoder: the linear layers whose output is at least 768 wide.
    """
    from nokoding.inference.runtime import hf_encoder

    found = hf_encoder(model)
    if found is None:
        return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m.out_features >= 768]
    prefix = f"{found[0]}." if found[0] else ""
    return [prefix + n for n, m in found[1].named_modules() if isinstance(m, torch.nn.Linear)]


def calibration_texts(model: Any) -> list[str]:
    """The texts whose activations set the smoothing factors of ``model``'s int8 copy.

    ``model.calibration_texts()`` when the model has that method (a trained
    :class:`nokoding.model.CodingModel` returns its hand-coded training segments — the
    evidence store — or, without one, its codebook's code names and descriptions); else
    ``[]`` (no smoothing). At most :data:`MAX_CALIBRATION_TEXTS`, blank texts dropped.
    """
    method = getattr(model, "calibration_texts", None)
    texts = list(method()) if callable(method) else []
    return [t for t in texts if isinstance(t, str) and t.strip()][:MAX_CALIBRATION_TEXTS]


def _observe_inputs(
    model: torch.nn.Module, texts: Sequence[str], names: Sequence[str], observe: Callable[[str, torch.Tensor], None]
) -> None:
    """Run ``texts`` through :func:`nokoding.inference.predict` in fp32 on the CPU, calling
    ``observe(name, rows)`` with each named layer's input as ``[tokens, in_features]`` rows
    (every position of every batch, padding included)."""
    from nokoding.inference.engine import predict

    def hook_for(name: str):
        def hook(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0].detach()
            observe(name, x.reshape(-1, x.shape[-1]))

        return hook

    hooks = [model.get_submodule(n).register_forward_pre_hook(hook_for(n)) for n in names]
    try:
        for _ in predict(model, list(texts), device="cpu", runtime="fp32"):
            pass
    finally:
        for h in hooks:
            h.remove()


def activation_absmax(model: torch.nn.Module, texts: Sequence[str], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Largest absolute input value per input channel of each named linear layer.

    Runs ``texts`` through :func:`nokoding.inference.predict` in fp32 on the CPU with
    forward pre-hooks on the layers (every position of every batch, padding included).

    Returns:
        ``{name: FloatTensor[in_features]}``.

    Raises:
        ValueError: when ``texts`` is empty.
    """
    if not texts:
        raise ValueError("activation_absmax needs at least one calibration text")
    found: dict[str, torch.Tensor] = {}

    def observe(name: str, rows: torch.Tensor) -> None:
        peak = rows.abs().amax(0).float()
        found[name] = torch.maximum(found[name], peak) if name in found else peak

    _observe_inputs(model, texts, names, observe)
    return found


def token_peak_ratio(model: torch.nn.Module, texts: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """For each named layer, the largest ratio, over the batches of ``texts``, of the largest
    per-token input peak to the median per-token peak (a token's peak: the largest absolute
    value of its input row; padding rows included). Run like :func:`activation_absmax`.

    Returns:
        ``{name: ratio}`` (≥ 1).

    Raises:
        ValueError: when ``texts`` is empty.
    """
    if not texts:
        raise ValueError("token_peak_ratio needs at least one calibration text")
    found: dict[str, float] = {}

    def observe(name: str, rows: torch.Tensor) -> None:
        peak = rows.abs().amax(1)
        found[name] = max(found.get(name, 1.0), float(peak.max() / peak.median().clamp(min=1e-12)))

    _observe_inputs(model, texts, names, observe)
    return found


class ScaledInput(torch.nn.Module):
    """``linear(x · inv_scale)``: a linear layer whose input channels are rescaled first.

    Args:
        linear: the wrapped layer (its weight columns already multiplied by the scale).
        inv_scale: ``FloatTensor[in_features]``, the reciprocal smoothing factors ``1/s``.
    """

    def __init__(self, linear: torch.nn.Module, inv_scale: torch.Tensor) -> None:
        super().__init__()
        self.linear = linear
        self.register_buffer("inv_scale", inv_scale.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[..., in_features]`` → ``[..., out_features]``."""
        return self.linear(x * self.inv_scale)


def smooth(model: torch.nn.Module, absmax: dict[str, torch.Tensor], alpha: float = SMOOTHING_ALPHA) -> list[str]:
    """Apply SmoothQuant's per-channel rescaling in place (module docstring, step 1).

    Each named ``nn.Linear`` gets ``W ← W · s`` (per input column) and is replaced by
    ``ScaledInput(linear, 1/s)``; the model computes the same function up to float rounding.

    Args:
        model: an fp32 model (modified in place — pass a copy).
        absmax: from :func:`activation_absmax`.
        alpha: migration strength in [0, 1].

    Returns:
        The new names of the wrapped linear layers (``<name>.linear``).

    Raises:
        ValueError: for ``alpha`` outside [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    wrapped = []
    for name, act in absmax.items():
        linear = model.get_submodule(name)
        with torch.no_grad():
            w_peak = linear.weight.abs().amax(0).float().clamp(min=1e-5)
            scale = (act.clamp(min=1e-5) ** alpha / w_peak ** (1.0 - alpha)).clamp(min=1e-5)
            linear.weight.mul_(scale.to(linear.weight.dtype))
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, ScaledInput(linear, 1.0 / scale))
        wrapped.append(f"{name}.linear")
    return wrapped


class Int8Linear(_DynamicLinear):
    """A dynamically quantised linear layer with full 8-bit activations.

    Same as ``torch.ao.nn.quantized.dynamic.Linear`` (int8 weights, activations quantised
    per call with one scale per tensor, fp32 output ``[..., out_features]``) except that it
    asks the kernel for the unsigned 0…255 activation range (``reduce_range=False``). Only
    safe with weights in :data:`WEIGHT_RANGE` (module docstring); :func:`quantize_int8`
    builds them so.
    """

    #: Set by :func:`quantize_int8` on layers with outlier tokens (module docstring, step 3):
    #: rows whose peak exceeds this many times the median row's get their own scale.
    outlier_token_ratio: float | None = None

    def _linear(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self._packed_params._packed_params, reduce_range=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[..., in_features]`` → ``[..., out_features]`` (same dtype)."""
        if self.outlier_token_ratio is not None:
            rows = x.reshape(-1, x.shape[-1])
            peak = rows.abs().amax(1)
            outlier = peak > self.outlier_token_ratio * peak.median()
            n_out = int(outlier.sum())
            if 0 < n_out < rows.shape[0]:
                y = rows.new_empty((rows.shape[0], self.out_features))
                for idx in (outlier.nonzero().squeeze(1), (~outlier).nonzero().squeeze(1)):
                    y.index_copy_(0, idx, self._linear(rows.index_select(0, idx)).to(x.dtype))
                return y.reshape(*x.shape[:-1], self.out_features)
        return self._linear(x).to(x.dtype)

    def _get_name(self) -> str:
        return "Int8Linear"


def _select_engine() -> None:
    """Set torch's process-wide quantised engine (``torch.backends.quantized.engine``) to the
    first of x86, fbgemm, onednn, qnnpack that this build supports."""
    engines = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm", "onednn", "qnnpack"):
        if name in engines:
            torch.backends.quantized.engine = name
            return


def quantize_int8(model: torch.nn.Module, texts: Sequence[str] = (), *, alpha: float = SMOOTHING_ALPHA) -> torch.nn.Module:
    """Turn an fp32 CPU model into the int8 runtime's model, in place (module docstring).

    Args:
        model: fp32 model on the CPU, LoRA adapters already merged (modified in place).
        texts: calibration texts for the smoothing and the outlier-token layers; empty: no
            smoothing, no token splitting (quantisation only).
        alpha: SmoothQuant migration strength.

    Returns:
        The quantised model (the same object). Sets torch's process-wide quantised engine
        (``torch.backends.quantized.engine``; x86 or fbgemm on x86 CPUs).
    """
    names = int8_layer_names(model)
    ratios: dict[str, float] = {}
    if texts and names:
        names = smooth(model, activation_absmax(model, texts, names), alpha)
        ratios = token_peak_ratio(model, texts, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        warnings.filterwarnings("ignore", message=".*torchao.*")
        from torch.ao.quantization import (
            PerChannelMinMaxObserver,
            QConfig,
            quantize_dynamic,
        )
        from torch.ao.quantization.observer import default_dynamic_quant_observer

        _select_engine()
        weight = PerChannelMinMaxObserver.with_args(
            dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=WEIGHT_RANGE[0], quant_max=WEIGHT_RANGE[1]
        )
        qconfig = QConfig(activation=default_dynamic_quant_observer, weight=weight)
        quantize_dynamic(
            model, {n: qconfig for n in names}, mapping={torch.nn.Linear: Int8Linear}, dtype=torch.qint8, inplace=True
        )
    for name, ratio in ratios.items():
        layer = model.get_submodule(name)
        if isinstance(layer, Int8Linear) and ratio >= SPLIT_LAYER_RATIO:
            layer.outlier_token_ratio = OUTLIER_TOKEN_RATIO
    return model
