#!/usr/bin/env python3
"""bench_report.py: the table of `make bench` (issue 13 item 6).

    scripts/bench_report.py OUT_DIR REPORT_MD

Reads every OUT_DIR/<bench>.txt (one benchmark's stdout: lines
`BENCH <name> <value> <unit>`, `RATIO <name> <value>`, and `LOAD <1m> <5m>
<15m>` written by the Makefile before the benchmark ran) and writes
REPORT_MD: one row per goal (figure, its baseline, ratio, goal, met or not),
then every figure as measured. A goal whose line is missing is reported as
"missing", never as met. Exit status 0 even when goals are missed: the table
is the verdict.
"""
import operator
import pathlib
import sys

# (bench, metric, op, threshold, figure, baseline); metric is a RATIO or a
# BENCH name; figure/baseline name the BENCH lines it is computed from.
GOALS = [
    ("append_bench", "append_vs_raw_rocksdb_1", ">=", 0.95,
     "store_append_1", "raw_rocksdb_put_sync_1"),
    ("append_bench", "append_vs_raw_rocksdb_8", ">=", 1.0,
     "store_append_8", "raw_rocksdb_put_sync_8"),
    ("append_bench", "append_vs_raw_rocksdb_64", ">=", 1.0,
     "store_append_64", "raw_rocksdb_put_sync_64"),
    ("http_bench", "http_get_vs_nginx", ">=", 1.0,
     "http_get_iamledger_rps_mean", "http_get_nginx_rps_mean"),
    ("http_bench", "http_get_iamledger_p99", "<=", 2000, None, None),
    ("http_bench", "http_post_token_c64_rps", ">=", 5000, None, None),
] + [
    ("authz_bench", f"authz_{mix}_total_p99_{n}", "<=", 1000, None, None)
    for mix in ("uniform", "member") for n in (1000, 100000, 1000000)
] + [
    ("authz_bench", "authz_p99_growth_1m_vs_1k", "<=", 1.2,
     "authz_member_total_p99_1000000", "authz_member_total_p99_1000"),
    ("authz_bench", "bytes_per_token", "<=", 512, None, None),
    ("authz_bench", "replay_vs_raw_iter", ">=", 0.6,
     "replay_1000000", "raw_iter_1000000"),
    ("replay_bench", "verify_vs_raw_iter", ">=", 0.5,
     "verify_events_per_s", "raw_iter_events_per_s"),
    ("replay_bench", "restart_to_ready_1m_s", "<=", 2.0, None, None),
    ("cluster_bench", "cluster_vs_single_create", ">=", 0.5,
     "cluster_create_per_s", "single_create_per_s"),
    ("cluster_bench", "cluster_replication_lag_p99", "<=", 50, None, None),
    ("cluster_bench", "cluster_failover_window_s", "<=", 3, None, None),
    ("open_loop_bench", "open_loop_create_p99", "<=", 20,
     "open_loop_create_rate", "closed_loop_create_max"),
    ("open_loop_bench", "open_loop_create_p999", "<=", 50,
     "open_loop_create_rate", "closed_loop_create_max"),
    ("peer_bench", "create_vs_postgres_c64", ">=", 2.0,
     "iamledger_create_post_c64_rps", "postgres_create_insert_c64"),
    ("peer_bench", "auth_vs_postgres_c64", ">=", 5.0,
     "iamledger_auth_get_c64_rps", "postgres_auth_select_c64"),
]
OPS = {">=": operator.ge, "<=": operator.le}


def parse(path):
    bench, ratio, load = {}, {}, ""
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        try:
            if len(parts) >= 3 and parts[0] == "BENCH":
                bench[parts[1]] = (float(parts[2]), " ".join(parts[3:]))
            elif len(parts) == 3 and parts[0] == "RATIO":
                ratio[parts[1]] = float(parts[2])
            elif parts and parts[0] == "LOAD":
                load = " ".join(parts[1:])
        except ValueError:
            continue  # a malformed figure is reported as missing
    return bench, ratio, load


def fmt(v):
    if v is None:
        return "–"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:,.0f}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench_report.py OUT_DIR REPORT_MD")
    out = pathlib.Path(sys.argv[1])
    runs = {p.stem: parse(p) for p in sorted(out.glob("*.txt"))}
    rows, met_count = [], 0
    for bench, metric, op, goal, figure, baseline in GOALS:
        b, r, load = runs.get(bench, ({}, {}, ""))
        value = r[metric] if metric in r else b.get(metric, (None,))[0]
        fig = b.get(figure, (None, ""))
        base = b.get(baseline, (None, ""))
        if value is None:
            verdict = "missing"
        elif OPS[op](value, goal):
            verdict, met_count = "met", met_count + 1
        else:
            verdict = "NOT met"
        fig_s = f"{fmt(fig[0])} {fig[1]} ({figure})" if figure else "–"
        base_s = f"{fmt(base[0])} {base[1]} ({baseline})" if baseline else "–"
        rows.append(f"| {bench} | `{metric}` | {fmt(value)} | {op} {goal} | "
                    f"{verdict} | {fig_s} | {base_s} | {load} |")
    lines = [
        "# make bench", "",
        f"{met_count} of {len(GOALS)} goals met. Load average (1, 5, 15 min) "
        "as each benchmark started; the machine is shared, so timed figures "
        "drift with it.", "",
        "| bench | metric | value | goal | verdict | figure | baseline | load |",
        "|---|---|---|---|---|---|---|---|",
    ] + rows + ["", "## Every figure", ""]
    for name, (b, r, load) in runs.items():
        lines += [f"### {name} (load {load})", "", "| name | value | unit |",
                  "|---|---|---|"]
        lines += [f"| {k} | {fmt(v)} | {u} |" for k, (v, u) in b.items()]
        lines += [f"| RATIO {k} | {v:.2f} | |" for k, v in r.items()]
        lines.append("")
    pathlib.Path(sys.argv[2]).write_text("\n".join(lines) + "\n")
    print(f"bench_report: {met_count}/{len(GOALS)} goals met -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
