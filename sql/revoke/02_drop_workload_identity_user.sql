-- revoke/02_drop_workload_identity_user.sql: optionally, removes the identity's database user too.
--
--   sqlcmd -S tcp:<server>.database.windows.net,1433 -d <database> \
--     --authentication-method ActiveDirectoryDefault -b \
--     -v IDENTITY_NAME=customers-identity -i sql/revoke/02_drop_workload_identity_user.sql
--
-- After this, a login with the identity's token fails with error 18456 instead of reading and
-- failing with 229. Re-running the grant script creates the user again.
-- Safe to run again.

DROP USER IF EXISTS [$(IDENTITY_NAME)];
GO
