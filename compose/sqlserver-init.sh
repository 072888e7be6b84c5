#!/usr/bin/env bash
# One-shot initialisation of the SQL Server container in compose.yaml (service sqlserver-init).
# Runs inside the SQL Server image with its own sqlcmd, as the sa login, once the server is healthy:
#   1. creates the database (AZURE_SQL_TEST_DATABASE, default customers) if missing;
#   2. runs the top-level sql/*.sql scripts in the order their names sort, exactly as a DBA would
#      (sqlcmd -b -I -v IDENTITY_NAME=...), once per database: a database-level extended property
#      records that they ran, so re-running this init is safe;
#      a script containing CREATE USER ... FROM EXTERNAL PROVIDER is skipped: a container cannot
#      validate Microsoft Entra tokens, so Entra users cannot exist here;
#   3. in its place creates (or re-passwords) the SQL login AZURE_SQL_TEST_LOGIN with only
#      db_datareader in that database, for the test suite's `Authentication=Sql Password`.
# Exits non-zero, naming the step, on the first failure.
#
# Environment (set by compose.yaml): SQLCMDSERVER, SQLCMDPASSWORD (sa's password: sqlcmd reads it,
# so it never appears on a command line), AZURE_SQL_TEST_DATABASE, AZURE_SQL_TEST_LOGIN,
# AZURE_SQL_TEST_PASSWORD.
set -euo pipefail
export LC_ALL=C # sort script names bytewise, as `ls` does on the DBA's machine

SQLCMD="${SQLCMD:-/opt/mssql-tools18/bin/sqlcmd}"
SQL_DIR="${SQL_DIR:-/sql}"
SERVER="${SQLCMDSERVER:-sqlserver}"
DATABASE="${AZURE_SQL_TEST_DATABASE:-customers}"
LOGIN="${AZURE_SQL_TEST_LOGIN:-customers_reader}"
IDENTITY_NAME="${IDENTITY_NAME:-customers-identity}"
MARKER="azure_sql_passwordless.sql_scripts_applied"

fail() {
  printf 'sqlserver-init: %s\n' "$*" >&2
  exit 1
}

[[ -x "${SQLCMD}" ]] || fail "${SQLCMD} not found: this must run in the mcr.microsoft.com/mssql/server:2022 image"
[[ -n "${SQLCMDPASSWORD:-}" ]] || fail "SQLCMDPASSWORD (the sa password) is not set"
[[ -n "${AZURE_SQL_TEST_PASSWORD:-}" ]] || fail "AZURE_SQL_TEST_PASSWORD is not set"
[[ "${DATABASE}" =~ ^[A-Za-z_][A-Za-z0-9_-]*$ ]] || fail "AZURE_SQL_TEST_DATABASE '${DATABASE}' must be a plain name"
[[ "${LOGIN}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "AZURE_SQL_TEST_LOGIN '${LOGIN}' must be a plain name"
[[ -d "${SQL_DIR}" ]] || fail "${SQL_DIR} is missing: compose.yaml mounts ./sql there"

# sqlcmd as sa; -b: stop with a non-zero exit on the first error; -I: QUOTED_IDENTIFIER ON, as
# SSMS and the drivers set it; -C: trust the container's self-signed certificate.
run_sql() { "${SQLCMD}" -S "${SERVER}" -U sa -C -b -I -l 30 "$@"; }

# sqlcmd substitutes $(NAME) from the environment: the test login's password goes in that way,
# never on a command line, with single quotes doubled for the N'...' literal.
export INIT_DATABASE="${DATABASE}" INIT_LOGIN="${LOGIN}" INIT_MARKER="${MARKER}"
INIT_LOGIN_PASSWORD="${AZURE_SQL_TEST_PASSWORD//\'/\'\'}"
export INIT_LOGIN_PASSWORD

echo "sqlserver-init: database ${DATABASE}"
run_sql -d master -Q "IF DB_ID(N'\$(INIT_DATABASE)') IS NULL CREATE DATABASE [\$(INIT_DATABASE)];" ||
  fail "could not create database ${DATABASE}"

applied="$(run_sql -d "${DATABASE}" -h -1 -W -Q "SET NOCOUNT ON; SELECT COUNT(*) FROM sys.extended_properties WHERE class = 0 AND name = N'\$(INIT_MARKER)';")" ||
  fail "could not read the init marker in ${DATABASE}"
if [[ "${applied//[[:space:]]/}" == "1" ]]; then
  echo "sqlserver-init: sql/ scripts already applied to ${DATABASE} (docker compose down -v to start over)"
else
  shopt -s nullglob
  scripts=("${SQL_DIR}"/*.sql)
  ((${#scripts[@]} > 0)) || fail "no .sql files in ${SQL_DIR}"
  for script in "${scripts[@]}"; do
    name="sql/$(basename "${script}")"
    # Comments (-- ...) aside: a script that only mentions it in its header still runs.
    if sed 's/--.*//' "${script}" | grep -qi 'FROM[[:space:]]\+EXTERNAL[[:space:]]\+PROVIDER'; then
      echo "sqlserver-init: skipping ${name}: Entra users (FROM EXTERNAL PROVIDER) cannot exist in a SQL Server container; ${LOGIN} is created instead"
      continue
    fi
    echo "sqlserver-init: running ${name}"
    run_sql -d "${DATABASE}" -v IDENTITY_NAME="${IDENTITY_NAME}" -i "${script}" || fail "${name} failed (its error is above)"
  done
  run_sql -d "${DATABASE}" -Q "EXEC sys.sp_addextendedproperty @name = N'\$(INIT_MARKER)', @value = N'yes';" ||
    fail "could not record the init marker in ${DATABASE}"
fi

echo "sqlserver-init: login ${LOGIN} with db_datareader on ${DATABASE}"
run_sql -d master -Q "
IF SUSER_ID(N'\$(INIT_LOGIN)') IS NULL
  CREATE LOGIN [\$(INIT_LOGIN)] WITH PASSWORD = N'\$(INIT_LOGIN_PASSWORD)', DEFAULT_DATABASE = [\$(INIT_DATABASE)], CHECK_POLICY = ON;
ELSE
  ALTER LOGIN [\$(INIT_LOGIN)] WITH PASSWORD = N'\$(INIT_LOGIN_PASSWORD)';" ||
  fail "could not create login ${LOGIN} (is AZURE_SQL_TEST_PASSWORD strong enough? 8+ characters from 3 of: upper, lower, digit, symbol)"
run_sql -d "${DATABASE}" -Q "
IF USER_ID(N'\$(INIT_LOGIN)') IS NULL
  CREATE USER [\$(INIT_LOGIN)] FOR LOGIN [\$(INIT_LOGIN)];
ALTER ROLE db_datareader ADD MEMBER [\$(INIT_LOGIN)];" ||
  fail "could not grant ${LOGIN} db_datareader on ${DATABASE}"

echo "sqlserver-init: done. For the test suite:"
echo "  AZURE_SQL_TEST_SQLSERVER='Server=tcp:localhost,${AZURE_SQL_TEST_PORT:-1433};Database=${DATABASE};Authentication=Sql Password;User Id=${LOGIN};Password=<AZURE_SQL_TEST_PASSWORD>;Encrypt=True;TrustServerCertificate=True'"
