-- revoke/01_revoke_read_from_workload_identity.sql: takes the workload identity's read access away,
-- whichever grant gave it: db_datareader (sql/02_grant_read_to_workload_identity.sql) or SELECT
-- on dbo.Customer (sql/azure/02_grant_select_on_customer_only.sql).
--
--   sqlcmd -S tcp:<server>.database.windows.net,1433 -d <database> \
--     --authentication-method ActiveDirectoryDefault -b \
--     -v IDENTITY_NAME=customers-identity -i sql/revoke/01_revoke_read_from_workload_identity.sql
--
-- SQL Server reads a user's roles when a session logs in: sessions already open keep reading until
-- they close, and every new login gets error 229 on SELECT. The library retires pooled connections
-- after their bounded lifetime, so a running pod loses access within that bound.
-- Safe to run again: dropping a role member that is not one, or revoking a permission that was
-- not granted, changes nothing.

IF EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(IDENTITY_NAME)')
BEGIN
    ALTER ROLE db_datareader DROP MEMBER [$(IDENTITY_NAME)];
    IF OBJECT_ID(N'dbo.Customer', N'U') IS NOT NULL
        REVOKE SELECT ON OBJECT::dbo.Customer FROM [$(IDENTITY_NAME)];
END;
GO
