"""What ``diss evaluate`` writes besides metrics.json: the trade-off plots (``write_plots``), a grid of samples to look
at (``write_grid``) and report.md (``write_report``), all from the metrics and the samples already measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diss.evaluate.metrics import RESAMPLES
from diss.outputs import write_text


def tolerance(metrics: dict) -> str:
    """The steps study's "equal quality" margin over the reference's FID, as the run's config set it ("5%")."""
    return f"{metrics['config']['step_tolerance']:.0%}"


def write_plots(metrics: dict, out: Path) -> list[str]:
    """Trade-off plots like the paper's; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for name, plot in (
        ("realism_tradeoff.png", _plot_realism),
        ("scales_grid.png", _plot_scales),
        ("fid_vs_steps.png", _plot_steps),
    ):
        fig = plot(plt, metrics)
        if fig is None:  # the study was not run
            continue
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        made.append(name)
    return made


def _plot_realism(plt, metrics: dict):
    """FID against stroke error and against sketch F1 along the realism sweep, beside SDEdit and the two modes."""
    s = metrics["settings"]
    realism = sorted((v["value"], v) for v in s.values() if v["study"] == "realism")
    sdedit = sorted((v["value"], v) for v in s.values() if v["study"] == "sdedit")
    if not realism:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in (
        (axes[0], "stroke_error", "stroke error (ΔE, lower = closer)"),
        (axes[1], "sketch_f1", "sketch F1 (higher = closer)"),
    ):
        ax.plot([v[key] for _, v in realism], [v["fid"] for _, v in realism], "o-", label="DiSS realism sweep")
        for value, v in realism:
            ax.annotate(f"s={value:g}", (v[key], v["fid"]), fontsize=8)
        if sdedit:
            ax.plot([v[key] for _, v in sdedit], [v["fid"] for _, v in sdedit], "s--", label="SDEdit (t0)")
            for value, v in sdedit:
                ax.annotate(f"t0={value:g}", (v[key], v["fid"]), fontsize=8)
        for mode, marker in (("lowpass", "^"), ("x0", "D")):
            v = s.get(f"mode_{mode}")
            if v:
                ax.plot([v[key]], [v["fid"]], marker, label=f"realism 0.5, {mode} mode")
        ax.axhline(metrics["fid_floor"], color="gray", ls=":", label="real-vs-real floor")
        ax.set_xlabel(label)
        ax.set_ylabel(f"FID (N={metrics['n']})")
        ax.legend(fontsize=8)
    return fig


def _plot_scales(plt, metrics: dict):
    """FID, sketch F1 and stroke error over the grid of sketch scale × stroke scale."""
    scales = [v for v in metrics["settings"].values() if v["study"] == "scales"]
    if not scales:
        return None
    a_vals = sorted({v["value"][0] for v in scales})
    b_vals = sorted({v["value"][1] for v in scales})
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, key in zip(axes, ("fid", "sketch_f1", "stroke_error"), strict=True):
        grid = np.full((len(a_vals), len(b_vals)), np.nan)
        for v in scales:
            grid[a_vals.index(v["value"][0]), b_vals.index(v["value"][1])] = v[key]
        im = ax.imshow(grid, origin="lower", cmap="viridis")
        ax.set_xticks(range(len(b_vals)), [f"{b:g}" for b in b_vals])
        ax.set_yticks(range(len(a_vals)), [f"{a:g}" for a in a_vals])
        ax.set_xlabel("stroke scale")
        ax.set_ylabel("sketch scale")
        ax.set_title(key)
        fig.colorbar(im, ax=ax)
    return fig


def _plot_steps(plt, metrics: dict):
    """FID against the sampling steps for each sampler of the steps study, with the reference and its tolerance."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    steps = [v for v in metrics["settings"].values() if v["study"] == "steps"]
    if not steps:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    eq = metrics.get("equal_quality", {})
    for sampler in dict.fromkeys(v["value"][0] for v in steps):  # in the study's order
        pts = sorted((v["value"][1], v["fid"], v.get("fid_difference_sd", 0.0)) for v in steps
                     if v["value"][0] == sampler)  # fmt: skip
        # error bars: the paired-bootstrap sd of the difference to the reference; one setting is one marker
        ax.errorbar(*zip(*pts, strict=True), fmt="o-", capsize=3, label=sampler)
    if eq:
        ref_sampler, ref_steps = eq["reference"]
        ax.plot([ref_steps], [eq["reference_fid"]], "k*", ms=10, label=f"{ref_sampler} {ref_steps} (reference)")
        ax.axhline(eq["fid_limit"], color="k", ls="--", lw=0.8, label=f"reference + {tolerance(metrics)}")
        ax.set_xscale("log")
        ax.set_xticks(sorted({v["value"][1] for v in steps}))  # labelled at the step counts measured
        ax.xaxis.set_major_formatter(ScalarFormatter())  # 20, 40, 250 rather than 2×10¹
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axhline(metrics["fid_floor"], color="gray", ls=":", label="floor")
    ax.set_xlabel("sampling steps")
    ax.set_ylabel(f"FID (N={metrics['n']})")
    ax.set_title("error bars: paired-bootstrap sd of the FID difference to the reference", fontsize=8)
    ax.legend(fontsize=8)
    return fig


def write_grid(out: Path, real, sketches, strokes, samples_dir: Path, settings: dict) -> None:
    """photo | sketch | stroke | a few settings' samples, for the first inputs: to look at."""
    from diss.grid import save_grid

    shown = [name for name in ("base", "realism_0", "realism_1", "sdedit_0.5") if name in settings]
    samples = {name: np.load(samples_dir / f"{name}.npy") for name in shown}
    rows = [[real[i], sketches[i], strokes[i], *(samples[n][i] for n in shown)] for i in range(min(6, len(real)))]
    save_grid(out / "samples.png", rows, col_labels=["photo", "sketch", "stroke", *shown])


def _cascade_lines(c: dict) -> list[str]:
    """The cascade study (``evaluate.cascade``) as a table with its targets."""
    d, f1, s, u = c["cascade_minus_lanczos"], c["sketch_f1"], c["sketch_f1_scaled"], c["sr_unpaired"]
    shrunk = f"photo/{c['factor']}"
    names = {"cascade": "cascade (base + upsampler)", "lanczos": "base + Lanczos", "sr": f"{shrunk} + upsampler",
             "sr_lanczos": f"{shrunk} + Lanczos"}  # fmt: skip
    rows = [f"| {names[k]} | {v['fid']:.2f} | {v['kid']:.4f} |" for k, v in c["settings"].items()]
    return [
        f"## The cascade at {c['size']} px (N = {c['n']}; floor FID {c['fid_floor']:.2f}; [cascade.png](cascade.png))",
        "",
        "| images | FID | KID |",
        "| --- | --- | --- |",
        *rows,
        "",
        f"Cascade − base + Lanczos: {d['fid']:+.2f} FID, 95% paired interval [{d['95'][0]:+.2f}, {d['95'][1]:+.2f}]. "
        f"On real photos shrunk {c['factor']}×, against the floor's other photos: upsampler {u['fid']:.2f}, Lanczos "
        f"{u['fid_lanczos']:.2f}, so the upsampler leaves {u['share']:.3f} of Lanczos' gap to the floor (95% "
        f"[{u['95'][0]:.3f}, {u['95'][1]:.3f}]; target ≤ 0.5); to the same photos (which score 0) its FID is "
        f"{c['sr_gap_share']:.2f}× Lanczos'{_sr_interval(c)}. Sketch F1 at {c['size']} px (2 px): cascade "
        f"{f1['cascade']:.3f}, base + Lanczos {f1['lanczos']:.3f}, {shrunk} + upsampler {f1['sr']:.3f}; at "
        f"{s['tolerance']:g} px (2 px of the base's size) {s['cascade']:.3f}, {s['lanczos']:.3f}, {s['sr']:.3f}; the "
        f"base's at its size (2 px) {f1['base']:.3f}.",
        *_line_following(c),
        "",
    ]


def _sr_interval(c: dict) -> str:
    """The upsampler − Lanczos paired interval on shrunk photos, where it was measured."""
    d = c.get("sr_minus_lanczos")
    if not d:
        return ""
    return f" ({d['fid']:+.2f} FID, 95% paired interval [{d['95'][0]:+.2f}, {d['95'][1]:+.2f}])"


def _line_following(c: dict) -> list[str]:
    """The line-following sentence of the cascade study, where it was measured."""
    lf = c.get("line_following")
    if not lf:
        return []
    return [f"Line following at {c['size']} px (the given sketch's lines against the images' edges, F1 within a "
            f"pixel of the base's size): cascade {lf['cascade']:.3f}, base + Lanczos {lf['lanczos']:.3f}, "
            f"photo/{c['factor']} + upsampler {lf['sr']:.3f}."]  # fmt: skip


def write_report(metrics: dict, out: Path, plots: list[str]) -> None:
    lines = [
        "# diss evaluation",
        "",
        f"N = {metrics['n']} held-out photos at {metrics['size']} px, {metrics['config']['sampler']} "
        f"{metrics['config']['steps']} steps; FID/KID against these photos. "
        f"Real-vs-real floor (N other photos vs the same set): FID {metrics['fid_floor']:.2f}, "
        f"KID {metrics['kid_floor']:.4f}. Small-N FID is biased upwards and noisy: compare with the floor.",
        "",
    ]
    if "diversity" in metrics:
        lines += [
            f"Diversity (mean pairwise cosine distance of Inception features, "
            f"{metrics['config']['diversity_samples']} samples × {metrics['config']['diversity_inputs']} inputs):"
            f" {metrics['diversity']:.4f}",
            "",
        ]
    if "cascade" in metrics:
        lines += _cascade_lines(metrics["cascade"])
    if "drawings" in metrics:
        from diss.evaluate.drawings import drawing_lines

        lines += drawing_lines(metrics["drawings"])
    if "equal_quality" in metrics:
        eq = metrics["equal_quality"]
        found = ", ".join(
            f"{k} {v if v is not None else 'none of the counts tried'}"
            for k, v in eq.items()
            if k not in ("reference", "reference_fid", "fid_limit")
        )
        lines += [
            f"Equal quality: fewest steps with FID ≤ {eq['fid_limit']:.2f} (reference {eq['reference'][0]} "
            f"{eq['reference'][1]} steps: FID {eq['reference_fid']:.2f}, + {tolerance(metrics)}): {found}. ΔFID: the "
            "difference to the reference with its 95% paired-bootstrap interval (the same inputs and seeds resampled "
            f"together, {RESAMPLES} times).",
            "",
        ]
    if metrics["settings"]:
        lines += [
            "| setting | study | FID | ΔFID vs reference | KID | sketch F1 | stroke error (ΔE) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
    for name, v in metrics["settings"].items():
        diff = (
            f"{v['fid_difference']:+.1f} [{v['fid_difference_95'][0]:+.1f}, {v['fid_difference_95'][1]:+.1f}]"
            if "fid_difference" in v
            else ""
        )
        lines.append(
            f"| {name} | {v['study']} | {v['fid']:.2f} | {diff} | {v['kid']:.4f} | {v['sketch_f1']:.3f} | "
            f"{v['stroke_error']:.2f} |"
        )
    lines += [
        "",
        "Sketch F1: lines of the output's extracted sketch vs the input sketch, 2 px tolerance. Stroke error:"
        " CIELAB ΔE76 on painted pixels after a σ = side/32 Gaussian blur. SDEdit: the strokes noised to t0 and "
        "denoised by the same model's unconditional branch.",
        "",
    ]
    lines += [f"![{p}]({p})" for p in [*plots, "samples.png"]]
    write_text(out / "report.md", "\n".join(lines) + "\n")
