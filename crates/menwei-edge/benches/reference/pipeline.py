"""The reference for G2: a plain Python + OpenCV + onnxruntime gate pipeline.

Written as a competent user would write it from the models' documentation, with the same
models, clip and detection settings as the daemon in the benchmark:

- every frame of the RTSP stream is decoded by OpenCV (FFmpeg) and analysed;
- faces: SCRFD-500M, the frame fitted into 640x640 (never up-scaled, sides rounded up to 32),
  score 0.5, NMS 0.4; every face is aligned (5 landmarks, similarity transform) and embedded
  with w600k_mbf, and matched to the enrolled templates (cosine >= 0.4);
- plates: clp_det with its longest side scaled to --plate-max-side (1600, as the daemon's
  default; at most 2x up), score 0.3, NMS 0.4;
  every plate is warped to 168x48 and read by clp_rec and PP-OCRv4 (greedy CTC), the more
  confident read wins, and it is matched exactly against the registered plates;
- ONNX Runtime: one intra-op and one inter-op thread, no spinning, as the daemon runs.

It prints one JSON object: frames, CPU seconds (process time, all threads) and wall seconds
after the models are loaded, and the residents and plates it recognised.

    python pipeline.py --url rtsp://... --models models --enrol var/media/obama.jpg \
        --resident r-obama --plate 川A019W2
"""

import argparse
import json
import os
import time

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

ARCFACE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def session(path):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def nms(boxes, scores, iou):
    order = np.argsort(-scores)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.maximum(0, xx2 - xx1) * np.maximum(0, yy2 - yy1)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        ov = inter / (area(boxes[i]) + area(boxes[order[1:]]) - inter + 1e-9)
        order = order[1:][ov < iou]
    return keep


def letterbox(img, w, h, scale):
    out = np.zeros((h, w, 3), dtype=np.uint8)
    rw, rh = min(w, round(img.shape[1] * scale)), min(h, round(img.shape[0] * scale))
    out[:rh, :rw] = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return out


class Faces:
    def __init__(self, models):
        self.det = session(os.path.join(models, "scrfd_500m_bnkps.onnx"))
        self.emb = session(os.path.join(models, "w600k_mbf.onnx"))

    def detect(self, bgr):
        fh, fw = bgr.shape[:2]
        scale = min(640 / fw, 640 / fh, 1.0)
        w, h = -(-round(fw * scale) // 32) * 32, -(-round(fh * scale) // 32) * 32
        rgb = cv2.cvtColor(letterbox(bgr, w, h, scale), cv2.COLOR_BGR2RGB)
        blob = ((rgb.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        out = dict(zip([o.name for o in self.det.get_outputs()], self.det.run(None, {"input.1": blob})))
        boxes, scores, kpss = [], [], []
        for stride in (8, 16, 32):
            gh, gw = h // stride, w // stride
            ys, xs = np.mgrid[:gh, :gw]
            centers = np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float32) * stride
            centers = np.repeat(centers, 2, axis=0)
            s = out[f"score_{stride}"].reshape(-1)
            d = out[f"bbox_{stride}"].reshape(-1, 4) * stride
            k = out[f"kps_{stride}"].reshape(-1, 10) * stride
            m = s >= 0.5
            c = centers[m]
            boxes.append(np.concatenate([c - d[m][:, :2], c + d[m][:, 2:]], 1))
            kpss.append((np.tile(c, 5) + k[m]).reshape(-1, 5, 2))
            scores.append(s[m])
        boxes, scores, kpss = np.concatenate(boxes) / scale, np.concatenate(scores), np.concatenate(kpss) / scale
        keep = nms(boxes, scores, 0.4)
        return boxes[keep], scores[keep], kpss[keep]

    def embed(self, bgr, kpss):
        crops = []
        for k in kpss:
            m, _ = cv2.estimateAffinePartial2D(k.astype(np.float32), ARCFACE, method=cv2.LMEDS)
            crops.append(cv2.warpAffine(bgr, m, (112, 112)))
        rgb = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2RGB) for c in crops]).astype(np.float32)
        blob = ((rgb - 127.5) / 127.5).transpose(0, 3, 1, 2)
        e = self.emb.run(None, {"input.1": blob})[0]
        return e / np.linalg.norm(e, axis=1, keepdims=True)


def priors(w, h):
    out = []
    for step, sizes in ((8, (24, 48)), (16, (96, 192)), (32, (384, 768))):
        for i in range(-(-h // step)):
            for j in range(-(-w // step)):
                for s in sizes:
                    out.append(((j + 0.5) * step, (i + 0.5) * step, s))
    return np.array(out, dtype=np.float32)


class Plates:
    def __init__(self, models, max_side):
        self.max_side = max_side
        self.det = session(os.path.join(models, "clp_det.onnx"))
        self.readers = []
        clp = session(os.path.join(models, "clp_v2_c_rec.onnx"))
        with open(os.path.join(models, "clp_dict.txt"), encoding="utf-8") as f:
            self.readers.append((clp, 32, [line.rstrip("\n") for line in f]))
        pp = session(os.path.join(models, "ch_PP-OCRv4_rec_infer.onnx"))
        chars = pp.get_modelmeta().custom_metadata_map["character"].splitlines() + [" "]
        self.readers.append((pp, 48, chars))
        self.prior_cache = {}

    def detect(self, bgr):
        fh, fw = bgr.shape[:2]
        side = self.max_side
        scale = min(side / max(fw, fh), 2.0)
        w = min(side, -(-round(fw * scale) // 32) * 32)
        h = min(side, -(-round(fh * scale) // 32) * 32)
        img = letterbox(bgr, w, h, scale).astype(np.float32) - np.array([104, 117, 123], dtype=np.float32)
        loc, conf, landms = self.det.run(None, {"image": img.transpose(2, 0, 1)[None]})
        if (w, h) not in self.prior_cache:
            self.prior_cache[(w, h)] = priors(w, h)
        p = self.prior_cache[(w, h)]
        s = conf[0][:, 1]
        m = s >= 0.3
        p, loc, lm, s = p[m], loc[0][m], landms[0][m], s[m]
        cxy = p[:, :2] + loc[:, :2] * 0.1 * p[:, 2:3]
        wh = p[:, 2:3] * np.exp(loc[:, 2:] * 0.2)
        boxes = np.concatenate([cxy - wh / 2, cxy + wh / 2], 1) / scale
        corners = (np.tile(p[:, :2], 4) + lm * 0.1 * np.repeat(p[:, 2:3], 8, 1)).reshape(-1, 4, 2) / scale
        keep = nms(boxes, s, 0.4)
        # The model gives bottom-right, bottom-left, top-left, top-right.
        return [corners[i][[2, 3, 0, 1]] for i in keep]

    def read(self, bgr, quad):
        dst = np.array([[0, 0], [168, 0], [168, 48], [0, 48]], dtype=np.float32)
        plate = cv2.warpPerspective(bgr, cv2.getPerspectiveTransform(quad.astype(np.float32), dst), (168, 48))
        best = ("", 0.0)
        for sess, height, chars in self.readers:
            w = min(320, round(168 * height / 48))
            x = cv2.resize(plate, (w, height)).astype(np.float32) / 255.0
            x = (x - 0.5) / 0.5
            blob = np.zeros((1, 3, height, 320), dtype=np.float32)
            blob[0, :, :, :w] = x.transpose(2, 0, 1)
            probs = sess.run(None, {"x": blob})[0][0]
            idx, conf = probs.argmax(1), probs.max(1)
            text, confs, prev = [], [], 0
            for i, c in zip(idx, conf):
                if i != 0 and i != prev:
                    text.append(chars[i - 1])
                    confs.append(c)
                prev = i
            t = "".join(text).replace("·", "").replace(" ", "")
            score = float(np.mean(confs)) if confs else 0.0
            if 7 <= len(t) <= 8 and score > best[1]:
                best = (t, score)
        return best[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--enrol", required=True, help="a photo of the resident")
    ap.add_argument("--resident", required=True)
    ap.add_argument("--plate", action="append", default=[], help="a registered plate")
    ap.add_argument("--plate-max-side", type=int, default=1600, help="clp_det's input: the longest side")
    args = ap.parse_args()

    faces, plates = Faces(args.models), Plates(args.models, args.plate_max_side)
    photo = cv2.imread(args.enrol)
    boxes, _, kpss = faces.detect(photo)
    largest = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    template = faces.embed(photo, kpss[largest : largest + 1])[0]

    cap = cv2.VideoCapture(args.url, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {args.url}")
    cpu0, wall0 = time.process_time(), time.monotonic()
    frames, residents, read_plates, registered = 0, set(), set(), set()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        _, _, kpss = faces.detect(frame)
        if len(kpss):
            for e in faces.embed(frame, kpss):
                if float(e @ template) >= 0.4:
                    residents.add(args.resident)
        for quad in plates.detect(frame):
            text = plates.read(frame, quad)
            if text:
                read_plates.add(text)
                if text in args.plate:
                    registered.add(text)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    print(json.dumps({
        "frames": frames,
        "cpu_s": cpu,
        "wall_s": wall,
        "residents": sorted(residents),
        "plates": sorted(read_plates),
        "registered_plates": sorted(registered),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
