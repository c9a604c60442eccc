"""jobq's one task runner: ``uvx nox`` runs lint, typecheck, unit, integration, e2e and
coverage; ``uvx nox -s bench`` and ``uvx nox -s cluster`` run on demand.

Every session installs the locked workspace (``uv sync --frozen``) into its own venv.
Test tiers select by marker (set from the directory by the jobq pytest plugin), write
JUnit XML to ``reports/junit-<tier>.xml`` and coverage data to
``reports/.coverage.<tier>.*`` (subprocesses included); ``coverage`` combines them.
Arguments after ``--`` go to pytest: ``uvx nox -s unit -- -k matching``.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "unit", "integration", "e2e", "coverage"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
REPORTS = ROOT / "reports"


def sync(session: nox.Session, *extra: str) -> None:
    """Install the locked workspace, every member and the dev tools, into the session."""
    session.run_install(
        "uv", "sync", "--frozen", "--all-packages", "--inexact", *extra,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )  # fmt: skip


def run_tier(session: nox.Session, tier: str, *pytest_args: str) -> None:
    """Run one tier under coverage, with its JUnit XML and coverage data under reports/."""
    sync(session)
    REPORTS.mkdir(exist_ok=True)
    for stale in REPORTS.glob(f".coverage.{tier}*"):
        stale.unlink()
    session.run(
        "coverage", "run", "-m", "pytest",
        "-m", tier,
        f"--junitxml={REPORTS / f'junit-{tier}.xml'}",
        "-o", f"junit_suite_name={tier}",
        *pytest_args,
        *session.posargs,
        env={"COVERAGE_FILE": str(REPORTS / f".coverage.{tier}")},
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the GitHub workflows validated against
    their JSON schema (check-jsonschema's vendored SchemaStore schema)."""
    session.install("ruff>=0.8", "check-jsonschema>=0.29")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    workflows = sorted(str(path) for path in (ROOT / ".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every member's sources and the shared test plugin."""
    sync(session)
    session.run("mypy", *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tier: pure logic, no network (enforced by the jobq plugin)."""
    run_tier(session, "unit")


@nox.session
def integration(session: nox.Session) -> None:
    """Integration tier: core, API and worker against a Redis the tests start."""
    run_tier(session, "integration")


@nox.session
def e2e(session: nox.Session) -> None:
    """End-to-end tier: real `jobq api`, `jobq worker` and `jobq monitor` processes."""
    run_tier(session, "e2e")


@nox.session
def coverage(session: nox.Session) -> None:
    """Combine every tier's coverage (subprocesses included); fail under 90 %."""
    session.install("coverage[toml]>=7.10")
    data = sorted(str(path) for path in REPORTS.glob(".coverage.*"))
    if not data:
        session.error("no coverage data under reports/: run the test tiers first")
    env = {"COVERAGE_FILE": str(REPORTS / ".coverage")}
    session.run("coverage", "combine", "--keep", *data, env=env)
    session.run("coverage", "xml", "-o", str(REPORTS / "coverage.xml"), env=env)
    session.run("coverage", "html", "-d", str(REPORTS / "htmlcov"), env=env)
    session.run("coverage", "report", env=env)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Every benchmark scenario; writes reports/bench.json and reports/bench.md."""
    sync(session)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").unlink(missing_ok=True)
    session.run(
        "pytest", "-m", "bench", "-p", "no:randomly", "-o", "timeout=600",
        f"--junitxml={REPORTS / 'junit-bench.xml'}",
        *(session.posargs or ["packages/core/tests/bench", "apps", "test/bench"]),
    )  # fmt: skip
    session.run("python", "bench/run.py")


@nox.session(default=False)
def cluster(session: nox.Session) -> None:
    """Core integration suite and an e2e journey on a local 3-master Redis Cluster."""
    sync(session)
    session.run(
        "pytest", "packages/core/tests/integration", "test/e2e/test_cli_processes.py",
        "test/e2e/test_journey.py", "-m", "integration or e2e",
        *session.posargs,
        env={"JOBQ_TEST_REDIS_CLUSTER": "1"},
    )  # fmt: skip
