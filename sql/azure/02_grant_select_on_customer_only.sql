-- azure/02_grant_select_on_customer_only.sql: least privilege, instead of
-- sql/02_grant_read_to_workload_identity.sql's role. db_datareader reads every table and view in
-- the database; the demo reads one table, so this grants SELECT on dbo.Customer and nothing else,
-- and takes db_datareader away if an earlier grant gave it.
--
-- Run it by hand as the server's Microsoft Entra admin, in the application database, after the
-- user exists (sql/azure/01_create_user_by_object_id.sql) and the table too
-- (sql/01_customer_table.sql):
--
--   sqlcmd -S tcp:<server>.database.windows.net,1433 -d <database> \
--     --authentication-method ActiveDirectoryDefault -b \
--     -v IDENTITY_NAME=customers-identity -i sql/azure/02_grant_select_on_customer_only.sql
--
-- sql/revoke/01_revoke_read_from_workload_identity.sql takes this grant away as it takes the role.
-- Safe to run again.

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(IDENTITY_NAME)')
    THROW 50000, N'No database user [$(IDENTITY_NAME)] here: run sql/azure/01_create_user_by_object_id.sql first, in this database.', 1;
IF OBJECT_ID(N'dbo.Customer', N'U') IS NULL
    THROW 50001, N'No table dbo.Customer here: run sql/01_customer_table.sql first, in this database.', 1;

-- The grant first, then the role away: the identity can read the table throughout.
GRANT SELECT ON OBJECT::dbo.Customer TO [$(IDENTITY_NAME)];
IF IS_ROLEMEMBER(N'db_datareader', N'$(IDENTITY_NAME)') = 1
    ALTER ROLE db_datareader DROP MEMBER [$(IDENTITY_NAME)];
GO
