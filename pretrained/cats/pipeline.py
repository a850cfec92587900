"""DiSSPipeline for diffusers' own loader: DiffusionPipeline.from_pretrained(folder, custom_pipeline=f"{folder}/pipeline.py", trust_remote_code=True). Needs `pip install diss-diffusion`."""

from diss.pipeline import DiSSPipeline  # noqa: F401
