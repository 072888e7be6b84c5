-- azure/01_create_user_by_object_id.sql: the workload identity's database user, made for the
-- identity itself (its object id) rather than for whatever identity has its name. Azure SQL
-- Database only; run by hand, before sql/02_grant_read_to_workload_identity.sql (which then only
-- adds the role). Not part of the sorted run of sql/*.sql that the sandbox and the SQL Server
-- container do: neither has Microsoft Entra ID's directory.
--
-- Run it as the server's Microsoft Entra admin, in the application database, not in master.
-- k8s/setup-azure.sh prints the values (the identity's "client id" and "principal (object) id"):
--
--   sqlcmd -S tcp:<server>.database.windows.net,1433 -d <database> \
--     --authentication-method ActiveDirectoryDefault -b \
--     -v IDENTITY_NAME=customers-identity CLIENT_ID=<client-id> PRINCIPAL_ID=<principal-id> \
--     -i sql/azure/01_create_user_by_object_id.sql
--
-- Why: a user made by name (CREATE USER [name] FROM EXTERNAL PROVIDER) stays the user of the
-- identity that had the name then. Delete the managed identity, create one of the same name, and
-- the old user remains: it looks right by name, a script checking by name finds nothing to do,
-- and every login of the new identity fails with 18456. So this script
--   1. stops if a user of that name belongs to another identity. The SID of a database user
--      made for an application or managed identity is its client (application) id, read as
--      CAST(sid AS uniqueidentifier) (Microsoft, "Microsoft Entra logins and users with
--      nonunique display names"). Drop the stale user with
--      sql/revoke/02_drop_workload_identity_user.sql, then run this again;
--   2. creates the user WITH OBJECT_ID, the identity's principal (object) id, which the statement
--      requires to exist in the server's tenant (else error 37545). Microsoft documents the
--      clause for Azure SQL Database only, not SQL Server or Managed Instance, and marks it as
--      public preview (same page);
--   3. checks that the user it made or found has the identity's client id as its SID: the object
--      id of an app registration is not that of its service principal, and a wrong one makes a
--      user for another principal.
-- Safe to run again: with the right user in place it changes nothing.

SET NOCOUNT ON;

DECLARE @client_id uniqueidentifier = TRY_CAST(N'$(CLIENT_ID)' AS uniqueidentifier);
IF @client_id IS NULL OR TRY_CAST(N'$(PRINCIPAL_ID)' AS uniqueidentifier) IS NULL
    THROW 50000, N'CLIENT_ID and PRINCIPAL_ID must be the identity''s client id and principal (object) id, two GUIDs: az identity show --query "[clientId, principalId]"', 1;

DECLARE @sid uniqueidentifier =
    (SELECT CAST(sid AS uniqueidentifier) FROM sys.database_principals WHERE name = N'$(IDENTITY_NAME)');
IF @sid IS NOT NULL AND @sid <> @client_id
BEGIN
    DECLARE @stale nvarchar(2048) = CONCAT(
        N'User [$(IDENTITY_NAME)] belongs to another identity (client id ', CONVERT(nvarchar(36), @sid),
        N', not ', CONVERT(nvarchar(36), @client_id), N'): one deleted and re-created under the same name. ',
        N'Drop it (sql/revoke/02_drop_workload_identity_user.sql), then run this script again.');
    THROW 50001, @stale, 1;
END;

IF @sid IS NULL
    CREATE USER [$(IDENTITY_NAME)] FROM EXTERNAL PROVIDER WITH OBJECT_ID = '$(PRINCIPAL_ID)';

IF NOT EXISTS (SELECT 1 FROM sys.database_principals
               WHERE name = N'$(IDENTITY_NAME)' AND CAST(sid AS uniqueidentifier) = @client_id)
    THROW 50002, N'The user made for PRINCIPAL_ID does not have CLIENT_ID as its SID: PRINCIPAL_ID is not this identity''s principal id (az identity show --query principalId). Drop the user and run this again.', 1;
GO
