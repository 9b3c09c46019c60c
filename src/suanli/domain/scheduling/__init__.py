"""Scheduling: feasibility, the performance model, placement policies and the decision both
the live loop and the simulator call. Pure code: the caller owns the clock and applies the
returned placements."""

# The packing policy (card_choice) used unless one is named: here, where importing it loads no
# NumPy, so the CLI's option defaults cost nothing at start-up.
DEFAULT_PACKING_POLICY = "suanli"
