-- 01_customer_table.sql: the demo's Customer table and its five sample rows.
--
-- Run it as the server's Microsoft Entra admin (or any db_owner) in the application database,
-- not in master, before the grant script:
--
--   sqlcmd -S tcp:<server>.database.windows.net,1433 -d <database> \
--     --authentication-method ActiveDirectoryDefault -b -i sql/01_customer_table.sql
--
-- Safe to run again: the table is created only if it is missing, and the sample rows go in only
-- while the table is empty.

IF OBJECT_ID(N'dbo.Customer', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.Customer (
        customer_id INT PRIMARY KEY IDENTITY,
        first_name  VARCHAR(50),
        last_name   VARCHAR(50),
        active      BIT
    );
END;
GO

IF NOT EXISTS (SELECT 1 FROM dbo.Customer)
BEGIN
    INSERT INTO dbo.Customer (first_name, last_name, active)
    VALUES
        ('John',  'Doe',     1),
        ('Jane',  'Smith',   0),
        ('Alice', 'Johnson', 0),
        ('Bob',   'Brown',   1),
        ('Emily', 'Davis',   0);
END;
GO
