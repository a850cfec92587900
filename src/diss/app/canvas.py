"""The app's canvases as values: blank ones, images put on them, the sketch as a faint guide under the strokes, and
the drawing read back (composited onto white; a mask from the painted layer). Pure NumPy: no Gradio here."""

from __future__ import annotations

import numpy as np

from diss.conventions import on_white, stroke_mask

CANVAS = 256  # side of the drawing canvases (px); drawings are resized to the model's side
GUIDE_OPACITY = 0.2  # the sketch's lines under the strokes canvas: 20% ink on white


def blank_canvas() -> dict:
    """An empty canvas value: white background, no layers."""
    from PIL import Image

    return {"background": Image.new("RGB", (CANVAS, CANVAS), "white"), "layers": [], "composite": None}


def blank_strokes() -> dict:
    """An empty strokes canvas: white background and one transparent layer, which replaces whatever was painted (a
    value without layers leaves the page's painted layers in place)."""
    return {**blank_canvas(), "layers": [np.zeros((CANVAS, CANVAS, 4), np.uint8)]}


def canvas_value(image: np.ndarray) -> dict:
    """A canvas whose background is ``image`` (uploaded or extracted), resized to the canvas."""
    from PIL import Image

    pil = Image.fromarray(image).convert("RGB").resize((CANVAS, CANVAS), Image.Resampling.LANCZOS)
    return {"background": pil, "layers": [], "composite": None}


def sketch_guide(sketch: np.ndarray | None):
    """The strokes canvas's background: the sketch's lines at ``GUIDE_OPACITY`` on white (white when there is no
    sketch), as a CANVAS-sided RGB PIL image. It is only shown: the strokes are read from the layers alone."""
    from PIL import Image

    if sketch is None:
        return Image.new("RGB", (CANVAS, CANVAS), "white")
    ink = 255.0 - np.asarray(Image.fromarray(sketch).convert("L").resize((CANVAS, CANVAS), Image.Resampling.LANCZOS))
    faint = (255.0 - GUIDE_OPACITY * ink).round().astype(np.uint8)
    return Image.fromarray(faint).convert("RGB")


def stroke_layer(image: np.ndarray) -> np.ndarray:
    """Strokes (RGB paint on white, any size) → a CANVAS-sided RGBA layer: paint opaque, unpainted white transparent,
    so that the guide shows through where nothing is painted and the layer composited onto white is the strokes."""
    from PIL import Image

    rgb = np.asarray(Image.fromarray(on_white(image)).resize((CANVAS, CANVAS), Image.Resampling.LANCZOS))
    alpha = np.where(stroke_mask(rgb), 255, 0).astype(np.uint8)
    return np.dstack([rgb, alpha])


def strokes_value(strokes: np.ndarray, sketch: np.ndarray | None) -> dict:
    """A strokes canvas holding ``strokes`` in its layer over the faint guide of ``sketch``."""
    return {"background": sketch_guide(sketch), "layers": [stroke_layer(strokes)], "composite": None}


def _over(image: np.ndarray | None, layer) -> np.ndarray | None:
    """An RGBA ``layer`` composited over ``image`` (RGB; None: white); a layer without alpha (a mode that dropped
    it: its unpainted pixels read black) or of another size is left out."""
    layer = np.asarray(layer, np.float32)
    if layer.ndim != 3 or layer.shape[-1] != 4 or (image is not None and image.shape[:2] != layer.shape[:2]):
        return image
    base = np.full((*layer.shape[:2], 3), 255.0) if image is None else image.astype(np.float32)
    alpha = layer[..., 3:4] / 255.0
    return (base * (1 - alpha) + layer[..., :3] * alpha).round().astype(np.uint8)


def flatten(value, background: bool = True) -> np.ndarray | None:
    """What a canvas shows, as (H, W, 3) uint8 on white, or None when nothing is drawn or loaded on it.

    The canvas gives ``composite`` once the user has drawn; a value the server has just set has only a background;
    the built-in Clear empties everything. ``background=False`` (the strokes canvas, whose background is the sketch's
    guide) takes the paint layers alone, composited onto white: never the background, nor the composite, which shows
    it."""
    if not value:
        return None
    if background and value.get("composite") is not None:
        image = on_white(value["composite"])
    else:
        image = None
        if background and value.get("background") is not None:
            image = on_white(value["background"])
        for layer in value.get("layers") or []:
            if layer is not None and (image is not None or not background):
                image = _over(image, layer)
    if image is None or not stroke_mask(image).any():  # nothing darker than "no stroke here" white
        return None
    return image


def painted_mask(value) -> np.ndarray | None:
    """The mask painted on the editing canvas: (H, W) uint8, 255 where any layer has paint; None when unpainted."""
    if not value:
        return None
    masks = [np.asarray(layer)[..., 3] > 0 for layer in value.get("layers") or [] if np.asarray(layer).shape[-1] == 4]
    if not masks or not np.any(masks):
        return None
    return (np.logical_or.reduce(masks) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------- sampling


