"""When the within-reach ratio is estimated on H3 cells, and on which resolutions.

The rules :mod:`.within_reach_cells` applies, kept apart from its models so that what checks a
mission before any estimate (the run's plausibility check) can say what the design needs
without importing the estimators.
"""

from __future__ import annotations

from protection_eval.hexgrid import resolution_for_radius

__all__ = [
    "CELL_CAVEAT",
    "CELL_DESIGN",
    "CELL_REASONS",
    "MIN_CELL_CLUSTERS", "MIN_PRESENCE_AREAS", "candidate_resolutions",
]

#: Below this many areas the within-reach ratio is estimated on H3 cells: the area design's
#: errors, clustered by area, rest on G - 1 degrees of freedom and need more groups than that.
MIN_PRESENCE_AREAS = 10
#: Fewest clusters (parent cells holding an incident in scope) the cell design accepts.
MIN_CELL_CLUSTERS = 10
#: Design name of the cell estimate in the effects table.
CELL_DESIGN = "space_time_controls_h3"

#: The caveat a cell estimate carries.
CELL_CAVEAT = (
    "Estimated on H3 hexagons of about {cell_km2:g} km2 instead of areas (the mission has "
    "{n_areas} area(s), too few to compare within), errors grouped by hexagons of about "
    "{parent_km2:g} km2."
)
#: Why the cell design could not be estimated: said with its numbers, never a count of incidents.
CELL_REASONS = {
    "clusters": (
        "needs incidents in at least {needed} groups of hexagons (about {parent_km2:g} km2 "
        "each); this mission's incidents in scope lie in {found}"
    ),
    "strata": "no hexagon-month has both places within and out of reach and an incident",
}


def candidate_resolutions(radius_m: float) -> tuple[int, int, int]:
    """Return the cell resolutions tried, coarsest first, around the radius's own.

    At the resolution whose edge is nearest the radius a cell is about as wide as the reach of
    a patrol at its centre; one coarser, a cell is about six times that reach and holds places
    within and out of reach (tried first); one finer, a cell is a fifth of the reach and only
    cells on its edge compare, but a small country still has enough groups of them.

    Parameters
    ----------
    radius_m : float
        The coverage radius in metres.

    Returns
    -------
    tuple of int
        Three H3 resolutions, coarsest first.
    """
    nearest = resolution_for_radius(radius_m, lowest=1, highest=12)
    return (nearest - 1, nearest, nearest + 1)
