-- 02_grant_read_to_workload_identity.sql: lets the workload identity read the database's tables.
--
-- IDENTITY_NAME is the name of the user-assigned managed identity (or app registration) the pod
-- runs as, exactly as Microsoft Entra ID shows it. Run this as the server's Microsoft Entra admin
-- (only an Entra principal can run CREATE USER ... FROM EXTERNAL PROVIDER), in the application
-- database, not in master:
--
--   sqlcmd -S tcp:<server>.database.windows.net,1433 -d <database> \
--     --authentication-method ActiveDirectoryDefault -b \
--     -v IDENTITY_NAME=customers-identity -i sql/02_grant_read_to_workload_identity.sql
--
-- On Azure SQL Database, run sql/azure/01_create_user_by_object_id.sql first: it makes the user
-- for the identity's object id and refuses a stale user left by a deleted identity of the same
-- name, which this script, finding the user by name, would take as done (logins then fail with
-- 18456). This script then only adds the role.
--
-- db_datareader reads every table and view in the database, not only dbo.Customer. The demo
-- needs only that table: sql/azure/02_grant_select_on_customer_only.sql grants just SELECT on it,
-- instead of this script's role.
-- Safe to run again: the user is created only if missing; adding an existing member changes nothing.
-- To take the access away, run sql/revoke/ (not part of the sorted run).

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(IDENTITY_NAME)')
    CREATE USER [$(IDENTITY_NAME)] FROM EXTERNAL PROVIDER;
GO

ALTER ROLE db_datareader ADD MEMBER [$(IDENTITY_NAME)];
GO
