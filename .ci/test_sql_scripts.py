#!/usr/bin/env python3
"""Checks the sql/ scripts' contracts, as text: no SQL engine here has Microsoft Entra ID.

What a DBA and the two stand-ins rely on, and what breaks silently otherwise:
  - the sorted run (sql/*.sql) and sql/revoke/ use only the variable IDENTITY_NAME: the sandbox
    (crates/azure-sql-sandbox/src/sql/scripts.rs) and the SQL Server container's init pass only
    that one, and sqlcmd stops at any other ("scripting variable not defined");
  - each script's header shows a sqlcmd line passing exactly the variables the script uses
    (sqlcmd substitutes $(NAME) in comments too, so all of them count);
  - sql/azure/01_create_user_by_object_id.sql compares the existing user's SID with CLIENT_ID and
    stops before it creates anything, creates only WITH OBJECT_ID = PRINCIPAL_ID, and checks the
    SID again after;
  - sql/revoke/01 undoes every grant the grant scripts make (each role added, each object
    permission granted).
The real T-SQL of the sorted run is executed by the sandbox's own tests; the Entra-only scripts
can only be checked here as text. Each check is also run on a broken copy and must report it.

Run: python3 .ci/test_sql_scripts.py   (prints "N passed, 0 failed")
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from script_tests import run_tests

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "sql"
OBJECT_ID_SCRIPT = "azure/01_create_user_by_object_id.sql"
REVOKE_SCRIPT = "revoke/01_revoke_read_from_workload_identity.sql"


def scripts() -> dict[str, str]:
    return {p.relative_to(SQL).as_posix(): p.read_text() for p in sorted(SQL.rglob("*.sql"))}


def used_variables(text: str) -> set[str]:
    return set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", text))


def header_variables(text: str) -> set[str] | None:
    """The NAME=value pairs the header's sqlcmd example passes with -v (None: no example)."""
    comment = "\n".join(line[2:] for line in text.splitlines() if line.startswith("--"))
    m = re.search(r"sqlcmd .*?-i\s+sql/\S+", comment, re.S)
    if not m:
        return None
    after_v = re.findall(r"-v((?:\s+\\?\s*[A-Z_]+=\S+)+)", m.group(0))
    return {pair.split("=", 1)[0] for chunk in after_v for pair in re.findall(r"[A-Z_]+=\S+", chunk)}


def code(text: str) -> str:
    return "\n".join(re.sub(r"--.*", "", line) for line in text.splitlines())


def check_sorted_run_variables(files: dict[str, str]) -> list[str]:
    errors = []
    for name, text in files.items():
        if "/" not in name or name.startswith("revoke/"):
            extra = used_variables(text) - {"IDENTITY_NAME"}
            if extra:
                errors.append(f"sql/{name}: uses {sorted(extra)}; the sandbox and the container init pass only IDENTITY_NAME")
    return errors


def check_headers(files: dict[str, str]) -> list[str]:
    errors = []
    for name, text in files.items():
        shown = header_variables(text)
        used = used_variables(text)
        if used and shown is None:
            errors.append(f"sql/{name}: uses {sorted(used)} but its header shows no sqlcmd line to run it")
        elif shown is not None and shown != used:
            errors.append(f"sql/{name}: the header passes {sorted(shown)}, the script uses {sorted(used)}")
    return errors


def check_object_id_script(files: dict[str, str]) -> list[str]:
    text = code(files.get(OBJECT_ID_SCRIPT, ""))
    errors = []
    create = re.search(r"CREATE\s+USER\s+\[\$\(IDENTITY_NAME\)\]\s+FROM\s+EXTERNAL\s+PROVIDER\s+WITH\s+OBJECT_ID\s*=\s*'\$\(PRINCIPAL_ID\)'", text, re.I)
    if not create:
        return [f"sql/{OBJECT_ID_SCRIPT}: no CREATE USER [$(IDENTITY_NAME)] FROM EXTERNAL PROVIDER WITH OBJECT_ID = '$(PRINCIPAL_ID)'"]
    before, after = text[:create.start()], text[create.end():]
    if len(re.findall(r"CREATE\s+USER", text, re.I)) != 1:
        errors.append(f"sql/{OBJECT_ID_SCRIPT}: creates a user some other way too")
    sid_read = list(re.finditer(r"CAST\(\s*sid\s+AS\s+uniqueidentifier\s*\)", before, re.I))
    if not sid_read or "$(CLIENT_ID)" not in before:
        errors.append(f"sql/{OBJECT_ID_SCRIPT}: does not compare the existing user's SID with CLIENT_ID before creating")
    elif not re.search(r"\bTHROW\b", before[sid_read[-1].end():], re.I):
        errors.append(f"sql/{OBJECT_ID_SCRIPT}: does not stop (THROW) on a stale user before creating")
    guard = text[max(0, create.start() - 200):create.start()]
    if not re.search(r"IF\s+@\w+\s+IS\s+NULL\s*$", guard, re.I | re.M):
        errors.append(f"sql/{OBJECT_ID_SCRIPT}: the CREATE USER does not run only when the user is missing")
    if not (re.search(r"CAST\(\s*sid\s+AS\s+uniqueidentifier\s*\)", after, re.I) and re.search(r"\bTHROW\b", after, re.I)):
        errors.append(f"sql/{OBJECT_ID_SCRIPT}: does not check the created user's SID afterwards")
    return errors


def check_revoke_undoes_grants(files: dict[str, str]) -> list[str]:
    revoke = code(files.get(REVOKE_SCRIPT, ""))
    errors = []
    for name, text in files.items():
        if name.startswith("revoke/"):
            continue
        body = code(text)
        for role in re.findall(r"ALTER\s+ROLE\s+(\w+)\s+ADD\s+MEMBER", body, re.I):
            if not re.search(rf"ALTER\s+ROLE\s+{role}\s+DROP\s+MEMBER", revoke, re.I):
                errors.append(f"sql/{name} adds the identity to {role}; sql/{REVOKE_SCRIPT} does not take it out")
        for perm, obj in re.findall(r"\bGRANT\s+(\w+)\s+ON\s+(OBJECT::[\w.\[\]]+)\s+TO", body, re.I):
            if not re.search(rf"\bREVOKE\s+{perm}\s+ON\s+{re.escape(obj)}\s+FROM", revoke, re.I):
                errors.append(f"sql/{name} grants {perm} ON {obj}; sql/{REVOKE_SCRIPT} does not revoke it")
    return errors


CHECKS = (check_sorted_run_variables, check_headers, check_object_id_script, check_revoke_undoes_grants)


def all_errors(files: dict[str, str]) -> list[str]:
    return [e for check in CHECKS for e in check(files)]


def test_the_scripts_keep_their_contracts():
    errors = all_errors(scripts())
    assert not errors, errors


def test_the_expected_scripts_exist():
    names = set(scripts())
    for name in ("01_customer_table.sql", "02_grant_read_to_workload_identity.sql", OBJECT_ID_SCRIPT,
                 "azure/02_grant_select_on_customer_only.sql", REVOKE_SCRIPT, "revoke/02_drop_workload_identity_user.sql"):
        assert name in names, f"sql/{name} is missing"


def broken(name: str, old: str, new: str) -> dict[str, str]:
    files = scripts()
    assert old in files[name], f"{old!r} not in sql/{name}"
    files[name] = files[name].replace(old, new, 1)
    return files


def test_each_check_reports_a_broken_copy():
    cases = {
        "sorted run needs another variable": (
            broken("02_grant_read_to_workload_identity.sql", "ALTER ROLE db_datareader ADD MEMBER [$(IDENTITY_NAME)];",
                   "ALTER ROLE db_datareader ADD MEMBER [$(IDENTITY_NAME)]; -- $(CLIENT_ID)"),
            "the sandbox and the container init pass only IDENTITY_NAME"),
        "header forgets a variable": (
            broken(OBJECT_ID_SCRIPT, "CLIENT_ID=<client-id> ", ""), "the header passes"),
        "create before the SID check": (
            broken(OBJECT_ID_SCRIPT, "DECLARE @sid uniqueidentifier =",
                   "CREATE USER [x] FROM EXTERNAL PROVIDER;\nDECLARE @sid uniqueidentifier ="), "creates a user some other way"),
        "no stale-user guard": (
            broken(OBJECT_ID_SCRIPT, "    THROW 50001, @stale, 1;", "    PRINT @stale;"), "does not stop (THROW)"),
        "created unconditionally": (
            broken(OBJECT_ID_SCRIPT, "IF @sid IS NULL\n    CREATE USER", "CREATE USER"), "run only when the user is missing"),
        "no check afterwards": (
            broken(OBJECT_ID_SCRIPT, "    THROW 50002,", "    PRINT"), "does not check the created user's SID afterwards"),
        "revoke forgets the table grant": (
            broken(REVOKE_SCRIPT, "REVOKE SELECT ON OBJECT::dbo.Customer FROM", "PRINT 'kept' --"), "does not revoke it"),
        "revoke forgets the role": (
            broken(REVOKE_SCRIPT, "ALTER ROLE db_datareader DROP MEMBER", "PRINT 'kept' --"), "does not take it out"),
    }
    for label, (files, expected) in cases.items():
        errors = all_errors(files)
        assert any(expected in e for e in errors), f"{label}: not reported as '{expected}'; got {errors}"


if __name__ == "__main__":
    sys.exit(run_tests(globals(), "sql scripts"))
