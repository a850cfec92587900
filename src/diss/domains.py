"""The shipped domains: each one's model folder in ``pretrained/`` and its example drawings in ``examples/``, and
which drawing the demo shows each dial on. The one place a domain is described; light (no torch), so the command line
lists them at once. A model folder names its domain in diss.json (``"domain"``, set by ``diss export --domain``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    """A subject a shipped model draws, and the example drawings (``examples/<name>-sketch.png`` and ``-stroke.png``)
    made for it by a seeded script in ``examples/``."""

    name: str
    folder: str  # under pretrained/
    examples: tuple[str, ...]
    sweep: str  # the demo's realism sweep and local edit
    scales: str  # the demo's sketch-scale × stroke-scale grid
    edit: str  # what the demo's local edit repaints: "background" (outside a central disc), "sky" (the top) or "eyes"
    spots: tuple[tuple[float, float], ...] = ()  # the "eyes" edit's discs: centres as shares of the side (x, y)


#: where the cat example drawings have their eyes (shares of the side: x, y), each a disc of EYE_RADIUS: drawn there
#: by examples/make_cats.py, repainted there by the demo's local edit of a cat
CAT_EYES = ((0.34, 0.46), (0.66, 0.46))
EYE_RADIUS = 0.1

DOMAINS = {
    d.name: d
    for d in (
        Domain("flowers", "flowers", ("daisy", "poppy", "sunflower", "pink"), "daisy", "poppy", "background"),
        Domain("landscapes", "landscapes", ("mountain", "sea", "glacier", "sunset", "peaks"), "mountain", "sea", "sky"),
        Domain("cats", "cats", ("tabby", "ginger", "black-cat", "white-cat", "grey-cat", "calico", "tuxedo", "cat-eyes",
                                "cat-coat"), "tabby", "ginger", "eyes", spots=CAT_EYES),  # fmt: skip
    )
}
DEFAULT_DOMAIN = "flowers"  # the default of every command


def domain_of(meta: dict) -> Domain:
    """The domain a model folder's diss.json names; a folder that names none (or an unknown one) gets the default's
    examples."""
    return DOMAINS.get(str(meta.get("domain")), DOMAINS[DEFAULT_DOMAIN])
