"""The dials' defaults, decided once for the pipeline, the CLI, the demo, the app and the evaluation. Light (no torch):
the command line reads them while it builds its parser.

Each value was chosen by measurement with ``diss evaluate`` and ``benchmarks/``; the figures are in the model cards
(``pretrained/*/README.md``) and ``BENCHMARKS.md``, never here, where they would go stale.
"""

SKETCH_GUIDANCE_SCALE = 1.5
STROKE_GUIDANCE_SCALE = 1.5
# realism 1 (a 1×1 low-pass of the strokes at 64 px, eq. 9) anchors the global colours, which with realism off follow
# the starting noise more than the strokes; on drawings from no photo it gives the lowest KID of the sweep
REALISM = 1.0
# the realism dial's sweep: the demo's and the app's rows, the drawing study's settings and diss evaluate's realism
# study (N = 32 / 24 / 16 / 9 / 1 at 64 px)
REALISM_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)
# the sketch-scale × stroke-scale grid: the demo's grid and diss evaluate's scales study
SCALE_SWEEP = (0.0, 1.5, 3.0)
# the share of the steps that are guided (eq. 7's three branches), as diffusers' control_guidance_start/_end: step i of
# n is guided where start ≤ i/n and (i+1)/n ≤ end; the others take one forward of the model's own conditional
# ε(c_sk, c_st) (a guidance interval, Kynkäänniemi et al. 2024). Guiding the middle of the schedule keeps the lines
# (late guidance draws them) at a lower FID than guiding every step, for fewer U-Net calls
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
# export --steps N`; diss.folder.model_steps). On the flowers model DDIM's FID is flat from 10 to 30 steps, so 10 halve
# the time; the landscapes model sets 20 (its card)
STEPS = 10
MAX_STEPS = 10_000  # more steps than any sampler needs: refused
# the noise schedules' training timesteps T, the base's and the upsampler's (a sampler takes at most T steps of them)
TIMESTEPS = 1000
# the cascade's second stage (diss.upsampler), where a model folder has one: DDIM steps (trailing) of the upsampler, and
# the noise-conditioning augmentation level of the base's image (of 1000: 100 → a blur of σ 0.12 px and noise of 0.01).
# One step at level 0 scored best on the shipped upsampler: more steps add grain its short training has not tamed
UPSAMPLER_STEPS = 1
UPSAMPLER_NOISE_LEVEL = 0
# the upsampler's own guidance by the sketch at its size (1: none, one forward per step)
UPSAMPLER_SKETCH_GUIDANCE_SCALE = 1.0
# the levels there are: whole numbers 0 … UPSAMPLER_LEVELS − 1 (here so that the checks need no torch)
UPSAMPLER_LEVELS = 1000
# what an upsampler is, for the folder checks (which need no torch): its output side over its input's (a model folder
# says which of UPSAMPLER_FACTORS in diss.json; UPSAMPLER_FACTOR is what a new one is trained for unless told), and the
# way its weights read their inputs (diss.upsampler: the residual over the bicubic enlargement, /
# UPSAMPLER_RESIDUAL_SCALE); a folder saying otherwise was made by another version and is refused
UPSAMPLER_FACTORS = (2, 4)
UPSAMPLER_FACTOR = 4
# the residual's scale: x − enlarged low is small (|·| ≤ 2, σ well below an image's); divided by this it has about an
# image's σ, so every timestep of the schedule carries some of it
UPSAMPLER_RESIDUAL_SCALE = 0.25
UPSAMPLER_FORMULATION = f"residual/{UPSAMPLER_RESIDUAL_SCALE:g}"
# the upsampler's training crop (a crop of a 4× photo at the base's side costs what the base's image costs)
UPSAMPLER_CROP = 64
# the distilled student (diss.student): the step counts it is trained for (the fewest for the app's live preview),
# its default (an image in fast mode), the guidance scales it was distilled over (0 … STUDENT_SCALE_MAX each; outside
# them the teacher runs), and the teacher's DDIM steps over each span of its finest grid (the trajectory it learns)
STUDENT_STEP_COUNTS = (1, 2, 4)
STUDENT_STEPS = 4
STUDENT_SCALE_MAX = 3.0
STUDENT_TEACHER_SUBSTEPS = 3
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
