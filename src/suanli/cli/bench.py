"""`suanli bench ...`: benchmarks print figures and a same-run baseline ratio; never assert."""

from __future__ import annotations

import typer

from suanli.cli import (
    bench_api,
    bench_cli,
    bench_dashboard,
    bench_ledger,
    bench_scenes,
    bench_scheduler,
    bench_vouchers,
    bench_web,
)

app = typer.Typer(help="Benchmarks", no_args_is_help=True)
for _module in (
    bench_ledger,
    bench_scheduler,
    bench_vouchers,
    bench_scenes,
    bench_cli,
    bench_api,
    bench_dashboard,
    bench_web,
):
    _module.register(app)
