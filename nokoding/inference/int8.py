"""The ``"int8"`` CPU runtime: smoothed, dynamically quantised linear layers.

Recipe (applied to a private fp32 copy of the model, never to the source):

1. **Smoothing** (SmoothQuant, Xiao et al. 2023, "SmoothQuant: Accurate and Efficient
   Post-Training Quantization for Large Language Models", ICML, eq. 4): a few input
   channels of an encoder's linear layers carry much larger activations than the rest, and
   one activation scale per token then leaves the other channels with few int8 levels. For
   every quantised layer the activations' largest absolute value per input channel
   ``a_j`` is measured on *calibration texts* (:func:`calibration_texts`), and with the
   weights' largest absolute value per input channel ``w_j`` the layer is rewritten as
   ``y = (x · s⁻¹) (W · s)ᵀ + b`` with ``s_j = a_j^α / w_j^(1-α)`` — the same function in
   exact arithmetic, but with activation outliers moved into the weights, which have one
   scale per output row. α = :data:`SMOOTHING_ALPHA`. The division by ``s`` is one
   element-wise multiply per layer (:class:`ScaledInput`).
2. **Dynamic int8 quantisation with one activation scale per token**: weights int8 with
   one scale per output row (7-bit range −64…63, see below), activations quantised on the
   fly with one scale per *row* (token) — so a token's result never depends on which other
   tokens or segments share its batch, and a few tokens with much larger inputs than the
   rest (with the shipped model, the sequence's special tokens in the FFN output layers,
   5–9× the median token) cost the other tokens no precision. The fbgemm/x86 kernel behind
   ``torch.ops.quantized.linear_dynamic`` chooses one scale per call from the input's
   minimum and maximum; :class:`Int8Linear` divides each row by its own largest absolute
   value and appends one fixed row holding +1 and −1, so that minimum and maximum are
   always −1 and +1 and the kernel's scale is the same for every call; the output rows are
   multiplied back by their row's value, then the bias is added. The integer products are
   exact and every other step is element-wise, so a row's int8 output does not depend on
   its batch (tested to 1e-5 in probability). The weights use the 7-bit range so that the
   activations can use the full unsigned 8-bit range 0…255: AVX2's int8 multiply-add sums
   pairs of ``u8 × s8`` products into 16 bits, and ``2 × 255 × 64 = 32,640`` still fits.

Which layers: every ``nn.Linear`` of the encoder (:func:`int8_layer_names`) — its attention
and FFN projections, not the classification heads. The int8 copy shares the source model's
embedding tables (they are not quantised), so it adds only the int8 weights to memory.

Measured with the shipped model (``python benchmarks/bench_int8_agreement.py``; README,
"Speed"): see ``benchmarks/results/int8_agreement_cpu.md``.

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
    "SMOOTHING_ALPHA",
    "WEIGHT_RANGE",
    "Int8Linear",
    "ScaledInput",
    "activation_absmax",
    "calibration_texts",
    "int8_layer_names",
    "quantize_int8",
    "smooth",
]

#: SmoothQuant's migration strength α (0: all difficulty stays in the activations, 1: all
#: moves to the weights). Chosen on the shipped model among 0.5–0.9 by top-code agreement
#: with fp32 on unseen thesis prose (0.7 best; 0.5 and 0.9 clearly worse).
SMOOTHING_ALPHA = 0.7
#: Calibration uses at most this many texts (the first ones, in the model's order).
MAX_CALIBRATION_TEXTS = 128
#: Signed 7-bit weight range, so activations can keep all 8 bits (see the module docstring).
WEIGHT_RANGE = (-64, 63)

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
    """Run ``texts`` through the engine's batches in fp32 on the CPU (``model`` itself), calling
    ``observe(name, rows)`` with each named layer's input as ``[tokens, in_features]`` rows
    (every position of every batch, padding included)."""
    from nokoding.inference.engine import Engine

    def hook_for(name: str):
        def hook(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0].detach()
            observe(name, x.reshape(-1, x.shape[-1]))

        return hook

    hooks = [model.get_submodule(n).register_forward_pre_hook(hook_for(n)) for n in names]
    engine = Engine(model, device="cpu", runtime="fp32")
    was_training = model.training
    model.eval()
    try:  # the model itself, not the engine's prepared copy: the hooks are on its layers
        for start in range(0, len(texts), engine.chunk_size):
            engine._run_chunk(model, engine._prepare_chunk(list(texts[start : start + engine.chunk_size])))
    finally:
        model.train(was_training)
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
    """A dynamically quantised linear layer with one activation scale per token (row).

    int8 weights with one scale per output row (packed without the bias), fp32 bias;
    activations quantised per call with one scale per row of ``x`` through the trick in the
    module docstring (step 2), with the kernel's unsigned 0…255 range
    (``reduce_range=False``) — only safe with weights in :data:`WEIGHT_RANGE`, which
    :func:`quantize_int8` builds. Input and output ``[..., in_features]`` →
    ``[..., out_features]``, same dtype.
    """

    row_bias: torch.Tensor | None = None

    def separate_bias(self) -> None:
        """Move the bias out of the packed weights into :attr:`row_bias` (done once, by
        :func:`quantize_int8`): it must be added after the rows are scaled back."""
        weight, bias = self._packed_params._weight_bias()
        if bias is not None:
            self._packed_params.set_weight_bias(weight, None)
            self.row_bias = bias.detach().float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[..., in_features]`` → ``[..., out_features]`` (same dtype)."""
        rows = x.reshape(-1, x.shape[-1]).float()
        n = rows.shape[0]
        peak = rows.abs().amax(1, keepdim=True).clamp_(min=_TINY)  # 10-20x faster than vector_norm(inf)
        scaled = torch.empty((n + 1, rows.shape[1]), dtype=torch.float32, device=rows.device)
        torch.div(rows, peak, out=scaled[:n])
        scaled[n].zero_()
        scaled[n, 0], scaled[n, -1] = 1.0, -1.0  # fixes the kernel's range at −1…+1
        y = torch.ops.quantized.linear_dynamic(scaled, self._packed_params._packed_params, reduce_range=False)[:n]
        y = y.mul_(peak) if self.row_bias is None else y.mul_(peak).add_(self.row_bias)
        return y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def _get_name(self) -> str:
        return "Int8Linear"


_TINY = torch.finfo(torch.float32).tiny


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
        texts: calibration texts for the smoothing; empty: no smoothing (quantisation only).
        alpha: SmoothQuant migration strength.

    Returns:
        The quantised model (the same object). Sets torch's process-wide quantised engine
        (``torch.backends.quantized.engine``; x86 or fbgemm on x86 CPUs).
    """
    names = int8_layer_names(model)
    if texts and names:
        names = smooth(model, activation_absmax(model, texts, names), alpha)
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
    for layer in model.modules():
        if isinstance(layer, Int8Linear):
            layer.separate_bias()
    return model
