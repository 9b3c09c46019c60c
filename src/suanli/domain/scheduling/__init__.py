"""Scheduling: feasibility, the performance model, placement policies and the decision both
the live loop and the simulator call. Pure code: the caller owns the clock and applies the
returned placements."""
