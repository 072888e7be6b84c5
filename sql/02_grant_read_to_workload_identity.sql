-- 02_grant_read_to_workload_identity.sql: lets the workload identity read, and nothing more.
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
-- Least privilege: the demo only reads, so the identity gets db_datareader and no other role.
-- Safe to run again: the user is created only if missing; adding an existing member changes nothing.
-- To take the access away, run sql/revoke/ (not part of the sorted run).

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(IDENTITY_NAME)')
    CREATE USER [$(IDENTITY_NAME)] FROM EXTERNAL PROVIDER;
GO

ALTER ROLE db_datareader ADD MEMBER [$(IDENTITY_NAME)];
GO
