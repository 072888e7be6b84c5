#!/usr/bin/env python3
"""Tests compose/sqlserver-init.sh's control flow against a stand-in for sqlcmd.

No SQL Server container runs in CI (no Docker engine), so a fake `sqlcmd` records each call (its
arguments, the script it was given, the variables it would substitute) and keeps the little state
the init reads back (databases, the "scripts applied" marker). The tests check: the database is
created first; the top-level sql/*.sql scripts run in sorted order in that database with
IDENTITY_NAME set, except the one creating an Entra user FROM EXTERNAL PROVIDER; the marker makes a
second run skip the scripts; the test login is created with db_datareader; no password ever
appears on a command line, and a quote in it is doubled for the T-SQL literal; a failing script
stops the init with its name. It uses the real sql/ folder.

Run: python3 .ci/test_sqlserver_init.py   (prints "N passed, 0 failed")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from script_tests import run_tests

ROOT = Path(__file__).resolve().parent.parent
INIT = ROOT / "compose" / "sqlserver-init.sh"

FAKE_SQLCMD = textwrap.dedent(
    r'''
    #!/usr/bin/env python3
    import json, os, re, sys
    args = sys.argv[1:]
    state_path = os.environ["FAKE_STATE"]
    state = json.load(open(state_path))

    def opt(name):
        return args[args.index(name) + 1] if name in args else None

    query = opt("-Q")
    script = opt("-i")
    text = open(script).read() if script else query
    variables = dict(v.split("=", 1) for i, v in enumerate(args) if i and args[i - 1] == "-v")
    # sqlcmd's rule: -v first, then the environment; an unknown $(NAME) is an error.
    def sub(m):
        name = m.group(1)
        if name in variables:
            return variables[name]
        if name in os.environ:
            return os.environ[name]
        print(f"Sqlcmd: Error: 'NAME' scripting variable not defined.", file=sys.stderr)
        sys.exit(1)
    resolved = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, text)
    state["calls"].append({"args": args, "script": script and os.path.basename(script), "sql": resolved,
                           "password_env": os.environ.get("SQLCMDPASSWORD")})
    if script and os.path.basename(script) == os.environ.get("FAKE_FAIL_SCRIPT"):
        print("Msg 102, Level 15, State 1: Incorrect syntax near 'x'.", file=sys.stderr)
        json.dump(state, open(state_path, "w")); sys.exit(1)
    if "sys.extended_properties WHERE" in resolved:
        print("1" if state["marker"] else "0")
    if "sp_addextendedproperty" in resolved:
        state["marker"] = True
    json.dump(state, open(state_path, "w"))
    '''
).lstrip()


def run_init(tmp: Path, state=None, **env_over):
    fake = tmp / "sqlcmd"
    fake.write_text(FAKE_SQLCMD)
    fake.chmod(0o755)
    state_path = tmp / "state.json"
    if state is None:
        state = {"calls": [], "marker": False}
    state["calls"] = []
    state_path.write_text(json.dumps(state))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_SQL_TEST", "SQLCMD", "INIT_"))}
    env.update(SQLCMD=str(fake), FAKE_STATE=str(state_path), SQL_DIR=str(ROOT / "sql"), SQLCMDSERVER="sqlserver",
               SQLCMDPASSWORD="Sa-Secret-1", AZURE_SQL_TEST_PASSWORD="Read'er-Secret-2")
    env.update(env_over)
    p = subprocess.run(["bash", str(INIT)], env=env, capture_output=True, text=True, timeout=60)
    return p, json.loads(state_path.read_text())


def top_level_scripts():
    return sorted(p.name for p in (ROOT / "sql").glob("*.sql"))


def entra_scripts():
    import re
    return {p.name for p in (ROOT / "sql").glob("*.sql")
            if re.search(r"FROM\s+EXTERNAL\s+PROVIDER", re.sub(r"--.*", "", p.read_text()), re.I)}


def test_first_run_creates_database_runs_scripts_and_login(tmp: Path):
    p, state = run_init(tmp)
    assert p.returncode == 0, p.stderr
    calls = state["calls"]
    assert "CREATE DATABASE [customers]" in calls[0]["sql"], calls[0]
    ran = [c["script"] for c in calls if c["script"]]
    expected = [s for s in top_level_scripts() if s not in entra_scripts()]
    assert ran == expected, (ran, expected)
    assert entra_scripts(), "sql/ should have a script creating the Entra user (FROM EXTERNAL PROVIDER)"
    for s in entra_scripts():
        assert f"skipping sql/{s}" in p.stdout, p.stdout
    for c in calls:
        if c["script"]:
            assert c["args"][c["args"].index("-d") + 1] == "customers", c["args"]
            assert "IDENTITY_NAME=customers-identity" in c["args"], c["args"]
            assert "-b" in c["args"], "scripts must stop at their first error"
    assert state["marker"] is True
    sql = "\n".join(c["sql"] for c in calls)
    assert "CREATE LOGIN [customers_reader] WITH PASSWORD = N'Read''er-Secret-2'" in sql, sql
    assert "ALTER ROLE db_datareader ADD MEMBER [customers_reader]" in sql, sql
    assert "AZURE_SQL_TEST_SQLSERVER='Server=tcp:localhost,1433;Database=customers;" in p.stdout, p.stdout


def test_passwords_never_on_a_command_line(tmp: Path):
    p, state = run_init(tmp)
    assert p.returncode == 0, p.stderr
    for c in state["calls"]:
        joined = " ".join(c["args"])
        assert "Sa-Secret-1" not in joined and "Secret-2" not in joined, joined
        assert "-P" not in c["args"], c["args"]
        assert c["password_env"] == "Sa-Secret-1", "sa's password must reach sqlcmd through SQLCMDPASSWORD"
    assert "Secret" not in p.stdout + p.stderr, "a password was printed"


def test_second_run_skips_scripts_but_keeps_login(tmp: Path):
    p, state = run_init(tmp, state={"calls": [], "marker": True})
    assert p.returncode == 0, p.stderr
    assert [c["script"] for c in state["calls"] if c["script"]] == [], state["calls"]
    assert "already applied" in p.stdout, p.stdout
    assert any("ALTER LOGIN [customers_reader] WITH PASSWORD" in c["sql"] for c in state["calls"])


def test_failing_script_stops_with_its_name(tmp: Path):
    first = [s for s in top_level_scripts() if s not in entra_scripts()][0]
    p, state = run_init(tmp, FAKE_FAIL_SCRIPT=first)
    assert p.returncode != 0, p.stdout
    assert f"sql/{first} failed" in p.stderr, p.stderr
    assert state["marker"] is False
    assert not any("CREATE LOGIN" in c["sql"] for c in state["calls"]), "went on after a failure"


def test_missing_password_is_named(tmp: Path):
    p, _ = run_init(tmp, AZURE_SQL_TEST_PASSWORD="")
    assert p.returncode != 0 and "AZURE_SQL_TEST_PASSWORD is not set" in p.stderr, p.stderr


def test_bad_database_name_is_refused(tmp: Path):
    p, state = run_init(tmp, AZURE_SQL_TEST_DATABASE="x]; DROP DATABASE master; --")
    assert p.returncode != 0 and "must be a plain name" in p.stderr, p.stderr
    assert state["calls"] == []


if __name__ == "__main__":
    sys.exit(run_tests(globals(), "sqlserver-init.sh", lambda tmp: tmp))
