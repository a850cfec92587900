"""diss: sketch + colour strokes → realistic images with a pixel-space diffusion model (DiSS, WACV 2023)."""

__version__ = "0.1.0"
