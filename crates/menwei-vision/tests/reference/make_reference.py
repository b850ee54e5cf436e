#!/usr/bin/env python3
"""Reference outputs of every model in models/models.toml, computed with ONNX Runtime's Python API.

A Rust test runs the same models through menwei-vision's `ort` wiring on the same inputs and
compares its outputs with the JSON this script writes (with a tolerance). The inputs are kept
free of any resizing so that both sides can build exactly the same tensor:

- each model gets a fixed rectangle of var/media/t1.jpg whose size is exactly the model's input
  size (no resize, no letterbox, no padding);
- the only pre-processing is the normalisation `(v - mean[c]) * scale[c]` per RGB source channel,
  in float32 as the Rust code does it, then HWC -> NCHW, with the planes written B, G, R where
  the Rust code feeds BGR.

JPEG decoders differ by a grey level here and there (Pillow's libjpeg-turbo and the `image`
crate's decoder do), and that alone moves an embedding by a few per cent. So the pixels come from
menwei's own decoder: the Rust test writes each crop it decoded to var/reference/<model>.rgb
(raw RGB, row-major, not committed), and this script reads those. Every case records the crop's
sha256; the Rust test refuses to compare when its pixels are not the ones the reference saw.

Run it from the repository root (see docs/ref/models.md, "Reference outputs"):

    cargo test -p menwei-vision --test reference   # writes var/reference/*.rgb
    python3 crates/menwei-vision/tests/reference/make_reference.py
"""

import argparse
import hashlib
import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort

GENERATOR = "crates/menwei-vision/tests/reference/make_reference.py"
IMAGE = "t1.jpg"
N_SAMPLES = 32


def f32(x):
    """A float32 constant computed in float32, as the Rust code's `1.0 / 127.5` (an f32) is."""
    return np.float32(x)


HALF = ([f32(127.5)] * 3, [f32(1.0) / f32(127.5)] * 3)

# One case per model in models/models.toml, keyed by its `name`.
#   crop:  (x, y, w, h) in t1.jpg (1280x886); (w, h) is the model input size.
#   input: the input name given in the manifest's `tensors` (checked against the session).
#   bgr, mean, scale: the normalisation the Rust code uses for the model by default; mean and
#          scale are per *source* channel R, G, B, whatever the plane order in the tensor.
CASES = {
    # Three faces (Rachel, Monica, Ross); src/face.rs NORM.
    "scrfd_500m": dict(
        crop=(0, 100, 640, 640), input="input.1", bgr=False,
        mean=[f32(127.5)] * 3, scale=[f32(1.0) / f32(128.0)] * 3,
    ),
    # Three other faces (Chandler, Joey, Phoebe); raw 0-255 (src/probe.rs).
    "centerface": dict(
        crop=(620, 40, 640, 640), input="input.1", bgr=False,
        mean=[f32(0.0)] * 3, scale=[f32(1.0)] * 3,
    ),
    # Rachel's face, not aligned to the ArcFace template (it need not be for this comparison).
    "w600k_mbf": dict(crop=(66, 262, 112, 112), input="input.1", bgr=False, mean=HALF[0], scale=HALF[1]),
    # Rachel's face with room around it, as dlib's 150x150 chip has (not aligned either);
    # dlib's input layer: (v - channel mean) / 256 (src/embed.rs).
    "dlib_resnet": dict(
        crop=(47, 243, 150, 150), input="input", bgr=False,
        mean=[f32(122.782), f32(117.001), f32(104.298)], scale=[f32(1.0) / f32(256.0)] * 3,
    ),
    # The right half of the table and two people: BGR minus the Caffe means (src/plate.rs DET_NORM).
    "clp_det": dict(
        crop=(320, 246, 640, 640), input="image", bgr=True,
        mean=[f32(123.0), f32(117.0), f32(104.0)], scale=[f32(1.0)] * 3,
    ),
    # A strip across Rachel's playing cards. BGR: PlateReaderConfig::default() has `bgr: true`
    # (src/plate.rs; PaddleOCR feeds OpenCV's BGR). Note: src/probe.rs feeds clp_rec RGB.
    "clp_rec": dict(crop=(120, 380, 320, 32), input="x", bgr=True, mean=HALF[0], scale=HALF[1]),
    # A strip of poker chips. RGB: only src/probe.rs feeds this model, with `bgr: false`.
    "ppocr_v4_rec": dict(crop=(480, 640, 320, 48), input="x", bgr=False, mean=HALF[0], scale=HALF[1]),
}


def crop_rgb(pixels_dir, name, crop):
    """The crop as uint8 HWC, as menwei's JPEG decoder produced it (written by the Rust test)."""
    x, y, w, h = crop
    path = pixels_dir / f"{name}.rgb"
    if not path.is_file():
        sys.exit(f"{path} is missing: run `cargo test -p menwei-vision --test reference` first")
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    if raw.size != w * h * 3:
        sys.exit(f"{path} has {raw.size} bytes, expected {w * h * 3} for the crop {crop}")
    return raw.reshape(h, w, 3)


def to_tensor(rgb, mean, scale, bgr):
    """HWC uint8 RGB -> [1, 3, H, W] float32: (v - mean[c]) * scale[c], planes B, G, R if bgr."""
    planes = []
    order = (2, 1, 0) if bgr else (0, 1, 2)
    for c in order:
        v = rgb[:, :, c].astype(np.float32)
        planes.append((v - mean[c]) * scale[c])  # float32 throughout, like the Rust code
    return np.stack(planes)[np.newaxis].astype(np.float32)


def summarise(name, arr):
    """Shape, float64 sums, first argmax, max and 32 evenly spaced samples of one output."""
    flat = np.asarray(arr).reshape(-1)
    n = flat.size
    wide = flat.astype(np.float64)
    idx = [k * n // N_SAMPLES for k in range(N_SAMPLES)]
    return {
        "name": name,
        "shape": [int(d) for d in np.shape(arr)],
        "sum": float(wide.sum()),
        "abs_sum": float(np.abs(wide).sum()),
        "argmax": int(np.argmax(flat)),
        "max": float(flat.max()),
        "samples": [[i, float(flat[i])] for i in idx],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", default="models", type=Path)
    ap.add_argument("--media-dir", default="var/media", type=Path)
    ap.add_argument("--pixels-dir", default="var/reference", type=Path)
    ap.add_argument("--out", default="crates/menwei-vision/tests/reference/outputs.json", type=Path)
    args = ap.parse_args()

    manifest = tomllib.loads((args.models_dir / "models.toml").read_text())
    models = manifest["model"]
    missing = {m["name"] for m in models} ^ set(CASES)
    if missing:
        sys.exit(f"models.toml and CASES disagree on: {sorted(missing)}")

    image_path = args.media_dir / IMAGE

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1

    cases = []
    for m in models:  # manifest order
        case = CASES[m["name"]]
        x, y, w, h = case["crop"]
        rgb = crop_rgb(args.pixels_dir, m["name"], case["crop"])
        tensor = to_tensor(rgb, case["mean"], case["scale"], case["bgr"])

        sess = ort.InferenceSession(str(args.models_dir / m["file"]), opts, providers=["CPUExecutionProvider"])
        inputs = sess.get_inputs()
        if len(inputs) != 1 or inputs[0].name != case["input"]:
            sys.exit(f"{m['name']}: inputs {[i.name for i in inputs]}, expected [{case['input']!r}]")
        names = [o.name for o in sess.get_outputs()]  # the session's output order
        results = sess.run(names, {case["input"]: tensor})

        cases.append({
            "model": m["name"],
            "file": m["file"],
            "crop": [x, y, w, h],
            "input": case["input"],
            "input_shape": list(tensor.shape),
            "bgr": case["bgr"],
            "mean": [float(v) for v in case["mean"]],
            "scale": [float(v) for v in case["scale"]],
            "crop_rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
            "crop_rgb_mean": [float(v) for v in rgb.reshape(-1, 3).astype(np.float64).mean(axis=0)],
            "outputs": [summarise(n, r) for n, r in zip(names, results)],
        })
        print(f"{m['name']}: crop {case['crop']}, outputs "
              + ", ".join(f"{n} {list(np.shape(r))}" for n, r in zip(names, results)))

    doc = {
        "generator": GENERATOR,
        "onnxruntime": ort.__version__,
        "pixels": "var/reference/<model>.rgb, decoded by menwei's JPEG decoder (the image crate)",
        "image": IMAGE,
        "image_sha256": hashlib.sha256(image_path.read_bytes()).hexdigest(),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
