#!/usr/bin/env python3
"""Draws the demo's two licence plates when the real plate photos (../shared/data) are absent.

Each picture is a 1280x720 scene: a dark car front with a blue Chinese plate (white characters,
the province character, a separator dot) in the lower middle, drawn with Noto Sans CJK Bold.
Writes var/demo-plates/<PLATE>.png; does nothing for pictures that exist. Needs python3-pil and
fonts-noto-cjk (both installed by scripts/setup).

Usage: scripts/render_plates.py [--root DIR]
"""
import argparse
import os
import sys

PLATES = ["川A019W2", "川AKQ291"]
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"


def render(plate: str, path: str) -> None:
    from PIL import Image, ImageDraw, ImageFont

    scene = Image.new("RGB", (1280, 720), (58, 60, 64))
    d = ImageDraw.Draw(scene)
    # A car's front: body, windscreen, grille, lamps.
    d.rounded_rectangle((240, 140, 1040, 660), radius=60, fill=(150, 152, 158))
    d.polygon([(330, 150), (950, 150), (1000, 300), (280, 300)], fill=(40, 48, 60))
    d.rectangle((380, 330, 900, 420), fill=(30, 30, 32))
    d.ellipse((280, 330, 360, 400), fill=(235, 235, 210))
    d.ellipse((920, 330, 1000, 400), fill=(235, 235, 210))
    # The plate: 440x140 (GA 36's 440 mm x 140 mm), blue with a white rim.
    x0, y0, w, h = 420, 450, 440, 140
    d.rounded_rectangle((x0, y0, x0 + w, y0 + h), radius=10, fill=(245, 245, 245))
    d.rounded_rectangle((x0 + 5, y0 + 5, x0 + w - 5, y0 + h - 5), radius=8, fill=(18, 62, 170))
    font = ImageFont.truetype(FONT, 96)
    chars = list(plate)
    # Seven characters: two, a dot, five.
    slots = [x0 + 20 + i * 57 for i in range(2)] + [x0 + 20 + 2 * 57 + 28 + i * 57 for i in range(5)]
    for ch, x in zip(chars, slots):
        bbox = d.textbbox((0, 0), ch, font=font)
        cw, chh = bbox[2] - bbox[0], bbox[3] - bbox[1]
        d.text((x + (50 - cw) / 2 - bbox[0], y0 + (h - chh) / 2 - bbox[1]), ch, font=font, fill=(250, 250, 250))
    d.ellipse((x0 + 20 + 2 * 57 + 4, y0 + 64, x0 + 20 + 2 * 57 + 16, y0 + 76), fill=(250, 250, 250))
    scene.save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    out = os.path.join(args.root, "var", "demo-plates")
    os.makedirs(out, exist_ok=True)
    todo = [p for p in PLATES if not os.path.exists(os.path.join(out, p + ".png"))]
    if not todo:
        print(f"render_plates.py: {len(PLATES)} demo plates present in {out}")
        return 0
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("render_plates.py: python3-pil is missing: run scripts/setup as root", file=sys.stderr)
        return 1
    if not os.path.exists(FONT):
        print(f"render_plates.py: {FONT} is missing (fonts-noto-cjk): run scripts/setup as root", file=sys.stderr)
        return 1
    for p in todo:
        render(p, os.path.join(out, p + ".png"))
    print(f"render_plates.py: drew {len(todo)} demo plates in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
