"""Trace-driven discrete-event replay of the scheduling policies (the same code the live loop
runs), with loaders for the Alibaba GPU 2023 trace and a Gavel-style synthetic generator."""

# The share of jobs asking for part of a card in the scheduler benchmark (issue 18's goal);
# here, where importing it loads no NumPy, for `suanli bench scheduler --help`.
FRACTIONAL_DEFAULT = 1 / 3
