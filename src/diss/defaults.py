"""The dials' defaults, decided once for the pipeline, the CLI, the demo and the app.

Set from `diss evaluate` on the shipped flowers model (numbers in pretrained/flowers/README.md): with realism off
the global colours of a sample follow its starting noise more than the strokes (the ε-predictor learns little at the
highest noise levels in a short training run), while realism 1 (a 1×1 low-pass of the reference at 64 px, eq. 9)
anchors the colours and costs little FID; 0 follows the drawing's colour layout most closely.
"""

SKETCH_GUIDANCE_SCALE = 1.5
STROKE_GUIDANCE_SCALE = 1.5
# realism 1 stays the default since the dial's painting end moved to N = 32 at 64 px: on 67 drawings from no photo it
# has the lowest KID (0.1045; realism 0: 0.1431, stroke ΔE 6.5 vs 13.3) and on photo-made conditions FID 87.11 (N = 249)
REALISM = 1.0
# the realism dial's sweep: the demo's and the app's rows and the drawing study's settings (N = 32 / 24 / 16 / 9 / 1 at
# 64 px)
REALISM_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)
# the share of the steps that are guided (eq. 7's three branches), as diffusers' control_guidance_start/_end: step i of
# n is guided where start ≤ i/n and (i+1)/n ≤ end; the others take one forward of the model's own conditional
# ε(c_sk, c_st) (a guidance interval, Kynkäänniemi et al. 2024). Measured at DDIM 10 on N = 249 held-out drawings
# (BENCHMARKS.md): every step guided FID 89.35, sketch F1 0.864; 0.3–0.8 (5 of 10 steps) 86.99 (paired −3.52…−0.53),
# F1 0.857; 0–0.5 85.77 but F1 0.832 (late guidance draws the lines); 0.5–1 90.56; none 89.86, F1 0.835. A default
# image costs 0.70× (1.42 vs 2.04 s under the AVX2 cap)
GUIDANCE_START = 0.3
GUIDANCE_END = 0.8
# where realism swaps the low frequencies: "x0" on the predicted x̂₀ inside the denoiser (every scheduler, multistep
# solvers too, steps from a consistent history; unpainted regions keep the model's colours), "lowpass" the paper's eq. 8
# on x_t after each step
REALISM_MODES = ("x0", "lowpass")
REALISM_MODE = "x0"
SAMPLER = "ddim"
# ddim: deterministic; dpm++: DPM-Solver++ 2M; dpm++sde: its stochastic (SDE) variant, the few-step sampler closest to
# DDPM 250 under realism; ddpm: ancestral, the original procedure (respaced to the step count)
SAMPLERS = ("ddim", "dpm++", "dpm++sde", "ddpm")
# the sampling steps of a model folder that sets none of its own (diss.json "defaults": {"steps": N}, written by `diss
# export --steps N`; diss.folder.model_steps). On the flowers model DDIM's FID is flat from 10 to 30 steps: 120.2 /
# 120.4 / 119.5 / 122.1 at 10 / 15 / 20 / 30 (N = 100) and 90.8 / 90.9 / 91.4 at 10 / 15 / 20 (N = 249), its sketch F1
# and stroke error alike; 10 steps halve the time (BENCHMARKS.md). The landscapes model sets 20 (its card)
STEPS = 10
MAX_STEPS = 10_000  # more steps than any sampler needs: refused
# the cascade's second stage (diss.upsampler), where a model folder has one: DDIM steps (trailing) of the upsampler, and
# the noise-conditioning augmentation level of the base's image (of 1000: 100 → a blur of σ 0.12 px and noise of 0.01).
# Measured on the shipped upsampler (N = 100, FID at 256 px, BENCHMARKS.md): on the base's own images 1 step scored
# 129.0 at level 0, 131.4 at 100, 137.7 at 250 (base + Lanczos 141.7), 2 steps 135.5; on photos shrunk 4× 1 / 2 / 3 /
# 4 / 8 steps 63.5 / 65.4 / 66.4 / 72.3 / 83.7 (Lanczos 84.7): more steps add grain this short training has not tamed
UPSAMPLER_STEPS = 1
UPSAMPLER_NOISE_LEVEL = 0
# the upsampler's own guidance by the sketch at its size (1: none, one forward per step)
UPSAMPLER_SKETCH_GUIDANCE_SCALE = 1.0
# the levels there are: whole numbers 0 … UPSAMPLER_LEVELS − 1 (here so that the checks need no torch)
UPSAMPLER_LEVELS = 1000
# what an upsampler is, for the folder checks (which need no torch): its output side over its input's, and the way its
# weights read their inputs (diss.upsampler: the residual over the bicubic enlargement, / 0.25); a folder saying
# otherwise was made by another version and is refused
UPSAMPLER_FACTOR = 4
UPSAMPLER_FORMULATION = "residual/0.25"
# guidance scales are refused above this: far past any useful value (the paper uses ≤ 5); larger ones only overflow.
# Here, not in pipeline.py, so that the command line checks its arguments without importing torch
MAX_GUIDANCE_SCALE = 100.0
# where the U-Net runs (DiSSPipeline.to_best_device(backend=...)): "auto" picks the faster one on this machine,
# "torch" is the reference, "openvino" needs the openvino package
BACKENDS = ("auto", "torch", "openvino")
BACKEND = "auto"
# the extractors' knobs (diss prepare, diss extract, the app's photo upload): 0 = main outlines only / a few large
# brush strokes, 1 = many interior lines / many smaller strokes
SKETCH_DETAIL = 0.5
STROKE_DETAIL = 0.5
# the side of a training cache's images (diss prepare): the shipped base models' side
PREPARE_SIZE = 64
