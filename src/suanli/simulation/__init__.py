"""Trace-driven discrete-event replay of the scheduling policies (the same code the live loop
runs), with loaders for the Alibaba GPU 2023 trace and a Gavel-style synthetic generator."""
