"""The `healer` command: demo, run, incidents, approve/reject, playbooks, policy, bench."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from healer import views
from healer.bench.loghub import MINERS as LOGHUB_MINERS
from healer.bench.loghub import run_loghub
from healer.bench.loghub import table as loghub_table
from healer.bench.nab import run_nab
from healer.bench.nab import table as nab_table
from healer.bench.run import Run, run_scenario
from healer.bench.scale import run_scale
from healer.bench.scale import table as scale_table
from healer.bench.suite import run_files
from healer.bench.summary import summarise, table
from healer.bootstrap import (
    build,
    build_simulated,
    catch_up,
    leadership_for,
    load_rules,
    open_store,
    scenario_from,
)
from healer.config import Settings, load_settings
from healer.daemon import run as run_daemon
from healer.domain.clock import SystemClock
from healer.domain.model import Approval, EventKind
from healer.errors import HealerError
from healer.health import Health, HealthServer, PollStatus, judge
from healer.pipeline.tick import TickReport, tick
from healer.playbooks import load_playbook
from healer.policies import load_policy
from healer.sim.kubeapi import register as register_kube_api
from healer.sim.scenario import builtin_scenarios
from healer.sim.serve import serve_forever
from healer.sim.shipping import LogShipper

app = typer.Typer(help="A self-healing operations daemon.", no_args_is_help=True)
incidents_app = typer.Typer(help="Incidents recorded in the store.", no_args_is_help=True)
playbooks_app = typer.Typer(help="Remediation playbooks.", no_args_is_help=True)
policy_app = typer.Typer(help="Approval policy.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (they print tables, or JSON with --json).")
sim_app = typer.Typer(help="The simulated cluster.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(policy_app, name="policy")
app.add_typer(bench_app, name="bench")
app.add_typer(sim_app, name="sim")

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (YAML).", exists=True)
]
StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default: SQLite in the user data dir).")
]
FAULT_SCENARIOS = ("cpu-saturation", "pool-exhaustion", "bad-deploy", "slow-dependency")


def main() -> None:
    try:
        app()
    except HealerError as exc:  # why: a refused file is a message for the user, not a traceback
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


def _settings(config: Path | None) -> Settings:
    return load_settings(str(config) if config else None)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # why: these narrate every poll and request; the healer's own lines are what matter
    for chatty in ("apscheduler", "elastic_transport", "alembic.runtime", "urllib3"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.root.level))


@app.command()
def demo(
    scenario: Annotated[
        str, typer.Option(help="A built-in scenario, 'all', or a scenario file.")
    ] = "pool-exhaustion",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the scored record as JSON.")
    ] = False,
    config: ConfigOption = None,
    store: StoreOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a scenario on the simulated cluster in accelerated time and show the timeline."""
    _logging(verbose)
    settings = _settings(config)
    names = [*FAULT_SCENARIOS, "steady-state"] if scenario == "all" else [scenario]
    records = []
    for name in names:
        started = time.monotonic()
        # The operators' baseline rules are part of the JSON record, not the live view.
        run = _run_one(settings, name, store, live=not as_json, baselines=as_json)
        run.record["wall_s"] = round(time.monotonic() - started, 2)
        records.append(run.record)
        if not as_json:
            _show_run(run)
    if as_json:
        document: Any = records[0] if len(records) == 1 else {"scenarios": records}
        print(json.dumps(document, indent=2))


def _run_one(
    settings: Settings, name: str, store: str | None, *, live: bool, baselines: bool
) -> Run:
    chosen = scenario_from(name)
    runtime = build_simulated(settings, chosen, store_url=store)
    with Progress(
        TextColumn(f"[bold]{chosen.name}[/]"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=chosen.ticks)

        def progress(done: int, total: int, report: TickReport) -> None:
            bar.update(task, completed=done, description=_clock_text(report, chosen.tick * done))
            if live:
                for item in report.events:
                    err.print(views.event_line(item), highlight=False)

        return run_scenario(chosen, runtime, progress, baselines=baselines)


def _clock_text(report: TickReport, elapsed: Any) -> str:
    held = f" [red]holding: {report.held}[/]" if report.held else ""
    return f"simulated {elapsed} ({report.at:%H:%M})" + held


def _show_run(run: Run) -> None:
    record = run.record
    if not run.incidents:
        out.print(f"[green]{record['name']}: no incident opened.[/]")
    for incident in run.incidents:
        out.print(views.timeline(incident, run.events.get(incident.id, [])))
        out.print()
    summary = {
        k: record.get(k)
        for k in (
            "detected",
            "ttd_s",
            "root_cause_at1",
            "playbook",
            "mitigated",
            "ttm_s",
            "false_incidents",
            "wall_s",
        )
    }
    out.print(f"[bold]{record['name']}[/]: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", exists=True, help="Settings file.")],
    polls: Annotated[int | None, typer.Option(help="Stop after this many polls.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = True,
) -> None:
    """Run the daemon against the configured sources until SIGTERM."""
    _logging(verbose)
    settings = _settings(config)
    runtime = build(settings)
    simulation = runtime.simulation if runtime.simulated_time else None
    interval = settings.poll.interval
    if simulation is not None:
        # Simulated sources move one tick per poll; `speed` says how fast that is in wall time.
        speed = settings.sources.sim.speed
        interval = simulation.scenario.tick.total_seconds() / speed if speed else 0.01

    status = PollStatus(interval)
    # why: a follower has not been polling; its baselines are as old as its last lead
    gained = threading.Event()

    def poll() -> None:
        status.started()
        try:
            if gained.is_set():
                gained.clear()
                catch_up(runtime.healer, settings)
            if simulation is not None:
                simulation.advance()
            report = tick(runtime.healer)
        except Exception:
            status.finished(ok=False)
            raise
        status.finished(ok=True, held=report.held)
        if report.held:
            logging.getLogger("healer").warning("poll held: %s", report.held)

    elector = leadership_for(settings, on_gained=gained.set)
    runtime.healer.may_act = elector.is_leader
    health = _health_server(settings, lambda: judge(status, leading=elector.is_leader()))
    elector.start()
    try:
        done = run_daemon(
            poll,
            interval=interval,
            startup_delay=settings.poll.startup_delay,
            max_polls=polls,
            leader=elector.is_leader,
        )
    finally:
        elector.stop()  # why: releasing the Lease lets another replica take over at once
        if health is not None:
            health.stop()
    err.print(f"stopped after {done} polls")


def _health_server(settings: Settings, health: Callable[[], Health]) -> HealthServer | None:
    port = settings.daemon.health_port
    if port is None:
        return None
    return HealthServer(settings.daemon.health_host, port, health).start()


@incidents_app.command("list")
def incidents_list(
    config: ConfigOption = None,
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List incidents, newest first."""
    sql = open_store(_settings(config), store)
    with sql.unit() as uow:
        found = uow.list_incidents(limit=limit)
    if as_json:
        print(json.dumps([views.incident_json(i, []) for i in found], indent=2))
    else:
        out.print(views.incidents_table(found))


@incidents_app.command("show")
def incidents_show(
    incident_id: Annotated[str, typer.Argument(help="The incident id.")],
    config: ConfigOption = None,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one incident's timeline."""
    sql = open_store(_settings(config), store)
    with sql.unit() as uow:
        incident = uow.get_incident(incident_id)
        events = uow.events(incident_id)
    if incident is None:
        err.print(f"[red]no incident {incident_id}[/]")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(views.incident_json(incident, events), indent=2))
    else:
        out.print(views.timeline(incident, events))


def _answer(
    incident_id: str,
    by: str,
    approved: bool,
    *,
    comment: str,
    config: Path | None,
    store: str | None,
) -> None:
    sql = open_store(_settings(config), store)
    with sql.unit() as uow:
        incident = uow.get_incident(incident_id)
        if incident is None:
            err.print(f"[red]no incident {incident_id}[/]")
            raise typer.Exit(1)
        if not any(e.kind is EventKind.APPROVAL_REQUESTED for e in uow.events(incident_id)):
            err.print(f"[red]{incident_id} is not waiting for an approval[/]")
            raise typer.Exit(1)
        uow.add_approval(Approval(incident_id, by, approved, SystemClock().now(), comment))
        uow.commit()
    out.print(
        f"{'approved' if approved else 'rejected'} {incident_id} as {by}; the next poll acts on it"
    )


@app.command()
def approve(
    incident_id: str,
    by: Annotated[str, typer.Option(help="Who approves.")],
    comment: str = "",
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Approve the plan an incident is waiting on."""
    _answer(incident_id, by, True, comment=comment, config=config, store=store)


@app.command()
def reject(
    incident_id: str,
    by: Annotated[str, typer.Option(help="Who rejects.")],
    comment: str = "",
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Reject the plan an incident is waiting on; it is escalated."""
    _answer(incident_id, by, False, comment=comment, config=config, store=store)


@playbooks_app.command("list")
def playbooks_list(config: ConfigOption = None, store: StoreOption = None) -> None:
    """List the playbooks, what they fix, their parameters and their track record."""
    settings = _settings(config)
    playbooks, _ = load_rules(settings)
    with open_store(settings, store).unit() as uow:
        records = uow.outcomes()
    for playbook in playbooks.values():
        params = ", ".join(
            f"{p.name} ({p.type}{'' if p.minimum is None else f' ≥{p.minimum:g}'}"
            f"{'' if p.maximum is None else f' ≤{p.maximum:g}'})"
            for p in playbook.params
        )
        out.print(
            f"[bold]{playbook.name}[/] ({playbook.risk} risk) fixes "
            f"{', '.join(sorted(playbook.fixes))}; params: {params or 'none'}"
        )
        out.print(f"  {playbook.description.strip()}", highlight=False)
        for record in records:
            if record.playbook == playbook.name:
                out.print(f"  track record: {record.text()}", highlight=False)


@playbooks_app.command("show")
def playbooks_show(
    name: Annotated[str, typer.Argument(help="The playbook's name.")], config: ConfigOption = None
) -> None:
    """Everything a playbook says: when it applies, what it changes, how it is judged."""
    playbooks, _ = load_rules(_settings(config))
    if name not in playbooks:
        err.print(f"[red]no playbook {name!r}; known: {', '.join(sorted(playbooks))}[/]")
        raise typer.Exit(2)
    print(views.playbook_text(playbooks[name]))


@playbooks_app.command("validate")
def playbooks_validate(
    path: Annotated[
        Path | None, typer.Argument(help="A playbook file or a directory (default: configured).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check playbook files; print each problem with its file, line and field."""
    target = path or _settings(config).paths.playbooks
    files = sorted([*target.glob("*.yaml"), *target.glob("*.yml")]) if target.is_dir() else [target]
    if not files:
        err.print(f"[red]{target}: no playbooks (*.yaml) in it[/]")
        raise typer.Exit(1)
    bad = 0
    for file in files:
        try:
            playbook = load_playbook(file)
        except HealerError as exc:
            bad += 1
            err.print(f"[red]invalid[/] {exc}", highlight=False)
            continue
        out.print(f"ok {file}: {playbook.name}", highlight=False)
    if bad:
        raise typer.Exit(1)


@policy_app.command("check")
def policy_check(
    path: Annotated[Path, typer.Argument(help="Policy file.")], config: ConfigOption = None
) -> None:
    """Load a policy file and report the first problem, with its line."""
    playbooks, _ = load_rules(_settings(config))
    policy = load_policy(path, playbooks=list(playbooks))
    out.print(
        f"{path}: ok — {len(policy.rules)} rules, default {policy.default}"
        + (", KILL SWITCH ON" if policy.kill_switch else "")
    )


@bench_app.command("scenarios")
def bench_scenarios(
    paths: Annotated[list[Path] | None, typer.Argument(help="Scenario files or folders.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    jobs: Annotated[
        int, typer.Option(min=1, help="Scenarios run side by side (processes); same results.")
    ] = 1,
    baselines: Annotated[
        bool, typer.Option(help="Also evaluate the operators' alert rules (most of the time).")
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Run scenarios and score detection, diagnosis and mitigation."""
    _logging(False)
    settings = _settings(config)
    files = _scenario_files(paths) if paths else sorted(builtin_scenarios().values())
    records = run_files(
        files,
        settings,
        jobs=jobs,
        started=lambda f: err.print(f"scenario {f}"),
        baselines=baselines,
    )
    summary = summarise(records)
    if as_json:
        print(json.dumps({"scenarios": records, "summary": summary}, indent=2))
    else:
        out.print(table(records, summary))


def _scenario_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    return files


@bench_app.command("scale")
def bench_scale(
    services: Annotated[str, typer.Option(help="Cluster sizes, comma-separated.")] = "10,100,1000",
    prometheus: Annotated[
        bool, typer.Option(help="Read metrics from a real Prometheus scraping the simulator.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cost of one poll (queries per source, CPU, wall time, peak RSS) as services grow."""
    _logging(False)
    sizes = [int(part) for part in services.split(",") if part.strip()]
    with tempfile.TemporaryDirectory() as scratch:
        runs = run_scale(sizes, scratch, prometheus=prometheus)
    if as_json:
        print(json.dumps({"runs": [r.as_json() for r in runs]}, indent=2))
    else:
        out.print(scale_table(runs))


@sim_app.command("serve")
def sim_serve(
    scenario: Annotated[
        str, typer.Option(help="A real-time scenario (e.g. pool-exhaustion-rt), built-in, or file.")
    ] = "steady-state-rt",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for /metrics, /healthz and /-/state.")] = 9464,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 1.0,
    elasticsearch: Annotated[
        list[str] | None, typer.Option(help="Ship log lines to this Elasticsearch (repeatable).")
    ] = None,
    index: Annotated[str, typer.Option(help="Index the log lines go to.")] = "logs-sim",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = True,
) -> None:
    """Run a scenario in real time: Prometheus metrics to scrape, logs shipped to Elasticsearch."""
    _logging(verbose)
    shipper = LogShipper(elasticsearch, index) if elasticsearch else None
    try:
        serve_forever(host, port, scenario, speed, shipper, routes=register_kube_api)
    finally:
        if shipper is not None:
            shipper.close()


@bench_app.command("loghub")
def bench_loghub(
    path: Annotated[Path, typer.Argument(help="A Loghub-2k folder (one sub-folder per system).")],
    miner: Annotated[str, typer.Option(help=f"Miner: {', '.join(LOGHUB_MINERS)}.")] = "variety",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Log template mining: grouping and parsing accuracy per system, and lines per second."""
    if miner not in LOGHUB_MINERS:
        err.print(f"[red]unknown miner {miner!r}; choose from {', '.join(LOGHUB_MINERS)}[/]")
        raise typer.Exit(2)
    result = run_loghub(path, LOGHUB_MINERS[miner])
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        out.print(loghub_table(result))


@bench_app.command("nab")
def bench_nab(
    path: Annotated[Path, typer.Argument(help="A NAB-layout folder (data/, windows.json).")],
    detections: Annotated[
        Path | None, typer.Option(help="Write NAB-layout result files (score, label) here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The streaming metric detector scored by NAB's rules, all three profiles, normalised."""
    result = run_nab(
        path, detections=detections, progress=lambda run: err.print(f"scored {run.file.name}")
    )
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        out.print(nab_table(result))
