"""PyTorch twins of LRCN architectures, and fvcore handles for aten::lstm / aten::gru.

An architecture is a plain dict (a "spec", see SPEC_KEYS); `LRCNTwin(spec)`
builds the PyTorch module and tools/make_onnx.py builds the Keras model with
the same layer sizes from the same spec. The twin takes (B, T, C, H, W),
folds time into the batch for the CNN, (B*T, C, H, W), and unfolds it for
the recurrent layers.

fvcore counts one fused multiply-add as one flop but has no handle for
recurrent layers; `rnn_flop_jit` counts them the way docs/cost-model.md does:
T x G*H*(I + H) per layer and direction (G = 4 gates for an LSTM, 3 for a GRU),
i.e. T x (elements of W_ih + elements of W_hh).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

SPEC_KEYS = {
    "frames": "time steps T",
    "size": "frame height and width",
    "channels": "input channels",
    "convs": "list of {filters, stride, bn (BatchNorm after the conv), pool (2x2 max pool)}",
    "bn_after_pool": "BatchNorm after the last pooling (PyTorch cannot fold it into a conv)",
    "reduce": "'flatten' or 'gap' (global average pooling) per frame",
    "projection": "units of a per-frame Dense/Linear before the recurrent layers (0: none)",
    "rnn": "{cell: lstm | gru, units, layers, bidirectional, reset_after (Keras GRU only), "
           "batch_first (PyTorch only, default True)}",
    "classes": "output units",
}


def frame_features(spec: dict) -> tuple[int, int]:
    """(spatial size, channels) of one frame after the conv stack."""
    size, channels = spec["size"], spec["channels"]
    for conv in spec["convs"]:
        size = -(-size // conv["stride"])
        size = size // 2 if conv["pool"] else size
        channels = conv["filters"]
    return size, channels


class LRCNTwin(nn.Module):
    """TimeDistributed CNN -> LSTM/GRU -> Linear, sized by a spec."""

    def __init__(self, spec: dict):
        super().__init__()
        layers: list[nn.Module] = []
        channels = spec["channels"]
        for conv in spec["convs"]:
            layers.append(nn.Conv2d(channels, conv["filters"], 3, stride=conv["stride"], padding=1))
            if conv["bn"]:
                layers.append(nn.BatchNorm2d(conv["filters"]))
            layers.append(nn.ReLU())
            if conv["pool"]:
                layers.append(nn.MaxPool2d(2))
            channels = conv["filters"]
        if spec.get("bn_after_pool"):
            layers.append(nn.BatchNorm2d(channels))
        self.cnn = nn.Sequential(*layers)
        self.reduce = spec["reduce"]
        size, channels = frame_features(spec)
        features = channels * size * size if self.reduce == "flatten" else channels
        projection = spec.get("projection", 0)
        self.projection = nn.Linear(features, projection) if projection else None
        rnn = spec["rnn"]
        cell = nn.LSTM if rnn["cell"] == "lstm" else nn.GRU
        self.batch_first = rnn.get("batch_first", True)
        self.rnn = cell(projection or features, rnn["units"], num_layers=rnn.get("layers", 1),
                        bidirectional=rnn.get("bidirectional", False), batch_first=self.batch_first)
        self.head = nn.Linear(rnn["units"] * (2 if rnn.get("bidirectional") else 1), spec["classes"])

    def forward(self, x):
        batch, steps, channels, height, width = x.shape
        y = self.cnn(x.reshape(batch * steps, channels, height, width))
        y = y.mean(dim=(2, 3)) if self.reduce == "gap" else y.flatten(1)
        y = y.reshape(batch, steps, -1)
        if self.projection is not None:
            y = torch.relu(self.projection(y))
        if not self.batch_first:  # (T, B, F) in and out
            out, _ = self.rnn(y.transpose(0, 1))
            return self.head(out[-1])
        out, _ = self.rnn(y)
        return self.head(out[:, -1])


def example_input(spec: dict, batch: int = 1) -> torch.Tensor:
    return torch.zeros(batch, spec["frames"], spec["channels"], spec["size"], spec["size"])


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weights and BatchNorm statistics, so no exporter can drop a zero bias."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
        for layer in module.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.running_var.abs_().add_(0.5)
    return module.eval()


# ---- fvcore handles (in the style of fvcore/nn/jit_handles.py) ---------------

def get_shape(val: Any) -> list[int] | None:
    """Shape of a traced tensor value, or None when it is not a complete tensor."""
    if val.isCompleteTensor():
        return val.type().sizes()
    return None


def rnn_weight_shapes(params: Any) -> list[list[int]]:
    """Shapes of the 2-D weights in the parameter list of an aten::lstm / aten::gru node."""
    shapes = [get_shape(v) for v in params.node().inputs()]
    return [s for s in shapes if s is not None and len(s) == 2]


def rnn_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """aten::lstm / aten::gru(input, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first): batch x T x sum over layers and directions of G*H*(I + H)."""
    input_shape = get_shape(inputs[0])
    batch_first = inputs[8].toIValue()
    steps = input_shape[1] if batch_first else input_shape[0]
    batch = input_shape[0] if batch_first else input_shape[1]
    per_step = sum(math.prod(shape) for shape in rnn_weight_shapes(inputs[2]))
    return batch * steps * per_step


lstm_flop_jit = rnn_flop_jit
gru_flop_jit = rnn_flop_jit
RNN_HANDLES = {"aten::lstm": lstm_flop_jit, "aten::gru": gru_flop_jit}


def flop_count(spec: dict):
    """fvcore's FlopCountAnalysis of the twin (batch 1) with the recurrent handles added."""
    from fvcore.nn import FlopCountAnalysis

    model = randomise(LRCNTwin(spec))
    analysis = FlopCountAnalysis(model, example_input(spec)).set_op_handle(**RNN_HANDLES)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis


# ---- twins built from an analysed model (ModelIR), layer by layer --------------------
#
# `twin_of(ir)` translates a sequential LRCN into standard PyTorch modules, the
# way a user would port it: TimeDistributed(X) folds time into the batch around
# X, an activation given inside a Keras layer becomes its own module after it
# (nn.ReLU, nn.Softmax, ...), GlobalAveragePooling2D is nn.AdaptiveAvgPool2d(1)
# plus nn.Flatten, LSTM/GRU/SimpleRNN are nn.LSTM/nn.GRU/nn.RNN (batch_first),
# one module per Keras layer. lrcn_advisor/conventions.py predicts what each
# FLOP counter reports for exactly this translation.

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU,
               "relu6": nn.ReLU6, "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU, "swish": nn.SiLU}


class TimeDistributed(nn.Module):
    """Applies `inner` to every frame: (B, T, ...) -> (B*T, ...) -> (B, T, ...)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        batch, steps = x.shape[:2]
        y = self.inner(x.flatten(0, 1))
        return y.reshape(batch, steps, *y.shape[1:])


class Recurrent(nn.Module):
    """A Keras recurrent layer: the whole sequence or only the last step."""

    def __init__(self, rnn: nn.Module, return_sequences: bool):
        super().__init__()
        self.rnn, self.return_sequences = rnn, return_sequences

    def forward(self, x):
        out, _ = self.rnn(x)
        return out if self.return_sequences else out[:, -1]


def _activation(name: str | None, features_dim: int = -1) -> list[nn.Module]:
    if not name or name == "linear":
        return []
    if name == "softmax":
        return [nn.Softmax(dim=features_dim)]
    if name not in ACTIVATIONS:
        raise ValueError(f"no PyTorch twin for activation {name!r}")
    return [ACTIVATIONS[name]()]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _channels(shape) -> int:
    return shape[-1]


def _frame_modules(layer) -> list[nn.Module]:
    """Torch modules for one frame of a TimeDistributed layer (input NCHW or (N, F))."""
    cls, config = layer.inner_kind_class, layer.config
    in_shape = layer.input_shape[2:]
    if cls == "Conv2D":
        kernel = _pair(config["kernel_size"])
        padding = tuple(k // 2 for k in kernel) if config.get("padding") == "same" else 0
        conv = nn.Conv2d(_channels(in_shape), config["filters"], kernel, stride=_pair(config.get("strides", 1)),
                         padding=padding, dilation=_pair(config.get("dilation_rate", 1)),
                         groups=config.get("groups", 1), bias=config.get("use_bias", True))
        return [conv, *_activation(config.get("activation"), 1)]
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        pool = nn.MaxPool2d if cls == "MaxPooling2D" else nn.AvgPool2d
        size = _pair(config.get("pool_size", 2))
        return [pool(size, stride=_pair(config.get("strides") or size))]
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        pool = nn.AdaptiveAvgPool2d if cls == "GlobalAveragePooling2D" else nn.AdaptiveMaxPool2d
        return [pool(1), nn.Flatten()]
    if cls == "BatchNormalization":
        norm = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        return [norm(_channels(in_shape), eps=config.get("epsilon", 1e-3),
                     affine=config.get("scale", True) or config.get("center", True))]
    if cls == "Activation":
        return _activation(config.get("activation"), 1)
    if cls in ("Dropout", "SpatialDropout2D"):
        return [nn.Dropout(config.get("rate", 0.5))]
    if cls == "Flatten":
        return [nn.Flatten()]
    if cls == "Dense":
        return [nn.Linear(in_shape[-1], config["units"], bias=config.get("use_bias", True)),
                *_activation(config.get("activation"))]
    raise ValueError(f"no PyTorch twin for TimeDistributed({cls})")


def _sequence_modules(layer) -> list[nn.Module]:
    """Torch modules for a layer applied to (B, T, F) or (B, F)."""
    cls, config = layer.inner_kind_class, layer.config
    if layer.kind == "recurrent":
        cell = {"LSTM": nn.LSTM, "GRU": nn.GRU, "SimpleRNN": nn.RNN}[cls]
        rnn = cell(layer.input_shape[-1], config["units"], batch_first=True,
                   bidirectional=layer.class_name == "Bidirectional", bias=config.get("use_bias", True))
        return [Recurrent(rnn, bool(config.get("return_sequences")))]
    if cls == "Dense":
        return [nn.Linear(layer.input_shape[-1], config["units"], bias=config.get("use_bias", True)),
                *_activation(config.get("activation"))]
    if cls == "Dropout":
        return [nn.Dropout(config.get("rate", 0.5))]
    if cls == "Activation":
        return _activation(config.get("activation"))
    if cls == "Flatten":
        return [nn.Flatten()]
    raise ValueError(f"no PyTorch twin for {cls}")


class IRTwin(nn.Module):
    """A sequential LRCN translated from an analysed model; input (B, T, C, H, W)."""

    def __init__(self, ir):
        super().__init__()
        modules: list[nn.Module] = []
        for layer in ir.layers:
            if layer.kind == "input":
                continue
            if layer.time_distributed:
                frame = _frame_modules(layer)
                modules.append(TimeDistributed(frame[0] if len(frame) == 1 else nn.Sequential(*frame)))
            else:
                modules.extend(_sequence_modules(layer))
        self.layers = nn.Sequential(*modules)
        self.input_shape = ir.input_shapes[0]

    def forward(self, x):
        return self.layers(x)


def twin_of(ir) -> IRTwin:
    """The PyTorch twin of a sequential LRCN's IR, with deterministic non-trivial weights."""
    return randomise(IRTwin(ir)).eval()


def twin_input(ir, batch: int = 1) -> torch.Tensor:
    """A (B, T, C, H, W) clip for the twin, T as the IR costed it."""
    _, frames, height, width, channels = ir.input_shapes[0]
    return torch.zeros(batch, frames or ir.frames, channels, height, width)
