"""diss: sketch + colour strokes → realistic images with a pixel-space diffusion model (DiSS, WACV 2023)."""

__version__ = "0.1.0"
__all__ = ["DiSSPipeline", "__version__"]


def __getattr__(name: str):
    """``from diss import DiSSPipeline`` imports torch and diffusers only then: ``diss --help`` stays instant."""
    if name == "DiSSPipeline":
        from diss.pipeline import DiSSPipeline

        return DiSSPipeline
    raise AttributeError(f"module 'diss' has no attribute {name!r}")
