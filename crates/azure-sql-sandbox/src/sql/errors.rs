//! Every SQL Server error the engine raises, in one table: number, severity (class), state and the
//! text worded as SQL Server words it, with `{0}`, `{1}`, ... where the details go.
//!
//! Client libraries branch on these numbers (18456 is never retried, 4060 is, 229 means "grant the
//! role"), so the engine never invents its own: a new failure gets the number SQL Server uses for
//! it, added here.

use std::fmt;

/// A SQL Server error or informational message (ERROR / INFO token).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SqlError {
    /// The error number (208, 229, 18456, ...).
    pub number: u32,
    /// The state.
    pub state: u8,
    /// The severity (class): 0..=10 informational, 11..=16 user errors, 20+ fatal.
    pub severity: u8,
    /// The message text, worded as SQL Server words it.
    pub message: String,
    /// The 1-based line of the batch it refers to.
    pub line: u32,
}

impl fmt::Display for SqlError {
    /// As sqlcmd prints it: `Msg 208, Level 16, State 1, Line 1: Invalid object name 'x'.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Msg {}, Level {}, State {}, Line {}: {}",
            self.number, self.severity, self.state, self.line, self.message
        )
    }
}

impl std::error::Error for SqlError {}

/// One SQL Server message: its number, severity, state and text template.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Def {
    pub number: u32,
    pub severity: u8,
    pub state: u8,
    pub text: &'static str,
}

impl Def {
    /// The error with its placeholders filled in (line 1; the executor sets the real line).
    pub(crate) fn with(&self, args: &[&str]) -> SqlError {
        let mut message = String::with_capacity(self.text.len() + 32);
        let mut rest = self.text;
        while let Some(open) = rest.find('{') {
            message.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}').and_then(|close| {
                after[..close]
                    .parse::<usize>()
                    .ok()
                    .map(|index| (index, close))
            }) {
                Some((index, close)) => {
                    message.push_str(args.get(index).copied().unwrap_or(""));
                    rest = &after[close + 1..];
                }
                None => {
                    message.push('{');
                    rest = after;
                }
            }
        }
        message.push_str(rest);
        SqlError {
            number: self.number,
            state: self.state,
            severity: self.severity,
            message,
            line: 1,
        }
    }

    /// The error for a message without placeholders.
    pub(crate) fn plain(&self) -> SqlError {
        self.with(&[])
    }
}

macro_rules! errors {
    ($($name:ident = $number:literal, $severity:literal, $state:literal, $text:literal;)*) => {
        $(pub(crate) const $name: Def = Def { number: $number, severity: $severity, state: $state, text: $text };)*
        /// The whole table, for tests and documentation.
        #[cfg(test)]
        pub(crate) const ALL: &[Def] = &[$($name),*];
    };
}

errors! {
    // Syntax and compilation.
    SYNTAX = 102, 15, 1, "Incorrect syntax near '{0}'.";
    NESTED_TOO_DEEPLY = 191, 15, 1, "Some part of your SQL statement is nested too deeply. Rewrite the query or break it up into smaller queries.";
    SYNTAX_KEYWORD = 156, 15, 1, "Incorrect syntax near the keyword '{0}'.";
    UNCLOSED_QUOTE = 105, 15, 1, "Unclosed quotation mark after the character string '{0}'.";
    MORE_COLUMNS_THAN_VALUES = 109, 15, 1, "There are more columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.";
    FEWER_COLUMNS_THAN_VALUES = 110, 15, 1, "There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.";
    SELECT_LIST_FEWER = 120, 15, 1, "The select list for the INSERT statement contains fewer items than the insert list. The number of SELECT values must match the number of INSERT columns.";
    SELECT_LIST_MORE = 121, 15, 1, "The select list for the INSERT statement contains more items than the insert list. The number of SELECT values must match the number of INSERT columns.";
    TOO_LONG_TYPE = 131, 15, 2, "The size ({0}) given to the {1} exceeds the maximum allowed for any data type ({2}).";
    UNKNOWN_SCHEMA = 2760, 16, 1, "The specified schema name \"{0}\" either does not exist or you do not have permission to use it.";
    UNDECLARED_VARIABLE = 137, 15, 2, "Must declare the scalar variable \"{0}\".";
    VARIABLE_REDECLARED = 134, 15, 1, "The variable name '{0}' has already been declared. Variable names must be unique within a query batch or stored procedure.";
    UNKNOWN_FUNCTION = 195, 15, 10, "'{0}' is not a recognized built-in function name.";
    WRONG_ARGUMENT_COUNT = 174, 15, 1, "The {0} function requires {1} argument(s).";
    INVALID_COLUMN = 207, 16, 1, "Invalid column name '{0}'.";
    INVALID_OBJECT = 208, 16, 1, "Invalid object name '{0}'.";
    AMBIGUOUS_COLUMN = 209, 16, 1, "Ambiguous column name '{0}'.";
    COLUMN_COUNT_MISMATCH = 213, 16, 1, "Column name or number of supplied values does not match table definition.";
    DUPLICATE_INSERT_COLUMN = 264, 16, 1, "The column name '{0}' is specified more than once in the SET clause or column list of an INSERT. A column cannot be assigned more than one value in the same clause. Modify the clause to make sure that a column is updated only once. If this clause updates or inserts columns into a view, column name aliasing can conceal the duplication in your code.";
    CATALOG_UPDATE = 259, 16, 1, "Ad hoc updates to system catalogs are not allowed.";
    UNKNOWN_TYPE = 2715, 16, 6, "Column, parameter, or variable #{0}: Cannot find data type {1}.";
    DUPLICATE_COLUMN = 2705, 16, 3, "Column names in each table must be unique. Column name '{0}' in table '{1}' is specified more than once.";
    OBJECT_EXISTS = 2714, 16, 6, "There is already an object named '{0}' in the database.";
    MULTIPART_NOT_BOUND = 4104, 16, 1, "The multi-part identifier \"{0}\" could not be bound.";
    NO_COLUMN_NAME = 8155, 16, 2, "No column name was specified for column {0} of '{1}'.";
    CROSS_DATABASE = 40515, 15, 1, "Reference to database and/or server name in '{0}' is not supported in this version of SQL Server.";
    NOT_SUPPORTED = 40517, 16, 1, "Keyword or statement option '{0}' is not supported in this version of SQL Server.";
    USE_NOT_SUPPORTED = 40508, 16, 1, "USE statement is not supported to switch between databases. Use a new connection to connect to a different database.";
    NOT_PREPARED = 8180, 16, 1, "Statement(s) could not be prepared: the sandbox's engine refused it ({0}).";
    IDENTITY_TWICE = 2744, 16, 2, "Multiple identity columns specified for table '{0}'. Only one identity column per table is allowed.";
    IDENTITY_TYPE = 2749, 16, 2, "Identity column '{0}' must be of data type int, bigint, smallint, tinyint, or decimal or numeric with a scale of 0, and constrained to be nonnullable.";
    TWO_PRIMARY_KEYS = 8110, 16, 0, "Cannot add multiple PRIMARY KEY constraints to table '{0}'.";
    NULLABLE_KEY = 8111, 16, 1, "Cannot define PRIMARY KEY constraint on nullable column in table '{0}'.";
    SP_EXECUTESQL_STATEMENT = 214, 16, 2, "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.";
    SP_EXECUTESQL_TOO_MANY = 8144, 16, 2, "Procedure or function sp_executesql has too many arguments specified.";
    SP_EXECUTESQL_UNKNOWN_PARAMETER = 8145, 16, 1, "{0} is not a parameter for procedure sp_executesql.";
    MISSING_END_COMMENT = 113, 15, 1, "Missing end comment mark '*/'.";
    STORED_PROCEDURE_NOT_FOUND = 2812, 16, 62, "Could not find stored procedure '{0}'.";
    SET_OPTION_VALUE = 102, 15, 1, "Incorrect syntax near '{0}'.";
    IDENTITY_INSERT_NO_IDENTITY = 8106, 16, 1, "Table '{0}' does not have the identity property. Cannot perform SET operation.";
    SUM_OF_BIT = 8117, 16, 1, "Operand data type {0} is invalid for {1} operator.";
    ORDER_BY_POSITION = 108, 15, 1, "The ORDER BY position number {0} is out of range of the number of items in the select list.";
    ORDER_BY_NOT_IN_UNION = 104, 15, 1, "ORDER BY items must appear in the select list if the statement contains a UNION, INTERSECT or EXCEPT operator.";
    SUBQUERY_ONE_COLUMN = 116, 16, 1, "Only one expression can be specified in the select list when the subquery is not introduced with EXISTS.";
    OPERAND_CLASH = 206, 16, 2, "Operand type clash: {0} is incompatible with {1}.";
    TOP_PERCENT_RANGE = 1031, 15, 1, "Percent values must be between 0 and 100.";

    // Data.
    ARITHMETIC_OVERFLOW = 8115, 16, 2, "Arithmetic overflow error converting {0} to data type {1}.";
    CONVERSION_FAILED = 245, 16, 1, "Conversion failed when converting the {0} value '{1}' to data type {2}.";
    CONVERSION_OVERFLOW = 248, 16, 1, "The conversion of the {0} value '{1}' overflowed an {2} column. Use a larger integer column.";
    INVALID_LENGTH = 536, 16, 1, "Invalid length parameter passed to the {0} function.";
    INVALID_DATEPART = 155, 15, 1, "'{0}' is not a recognized {1} option.";
    DATE_OVERFLOW = 517, 16, 1, "Adding a value to a '{0}' column caused an overflow.";
    CONVERT_TO_NUMERIC = 8114, 16, 5, "Error converting data type {0} to {1}.";
    CONVERT_DATETIME = 241, 16, 1, "Conversion failed when converting date and/or time from character string.";
    CONVERT_GUID = 8169, 16, 2, "Conversion failed when converting from a character string to uniqueidentifier.";
    EXPLICIT_CONVERSION = 529, 16, 2, "Explicit conversion from data type {0} to {1} is not allowed.";
    DIVIDE_BY_ZERO = 8134, 16, 1, "Divide by zero error encountered.";
    TRUNCATED = 2628, 16, 1, "String or binary data would be truncated in table '{0}', column '{1}'. Truncated value: '{2}'.";
    NOT_NULL = 515, 16, 2, "Cannot insert the value NULL into column '{0}', table '{1}'; column does not allow nulls. {2} fails.";
    DUPLICATE_KEY = 2627, 14, 1, "Violation of {0} constraint '{1}'. Cannot insert duplicate key in object '{2}'. The duplicate key value is ({3}).";
    IDENTITY_INSERT_OFF = 544, 16, 1, "Cannot insert explicit value for identity column in table '{0}' when IDENTITY_INSERT is set to OFF.";
    IDENTITY_NEEDS_COLUMN_LIST = 8101, 16, 1, "An explicit value for the identity column in table '{0}' can only be specified when a column list is used and IDENTITY_INSERT is ON.";
    UPDATE_IDENTITY = 8102, 16, 1, "Cannot update identity column '{0}'.";

    // Objects and permissions.
    PERMISSION_DENIED = 229, 14, 5, "The {0} permission was denied on the object '{1}', database '{2}', schema '{3}'.";
    CREATE_TABLE_DENIED = 262, 14, 1, "CREATE TABLE permission denied in database '{0}'.";
    CANNOT_DROP_TABLE = 3701, 11, 5, "Cannot drop the table '{0}', because it does not exist or you do not have permission.";
    CANNOT_FIND_OBJECT = 1088, 16, 7, "Cannot find the object \"{0}\" because it does not exist or you do not have permissions.";
    NO_PERMISSION = 15247, 16, 1, "User does not have permission to perform this action.";
    CANNOT_ALTER_ROLE = 15151, 16, 1, "Cannot alter the role '{0}', because it does not exist or you do not have permission.";
    CANNOT_ADD_PRINCIPAL = 15151, 16, 1, "Cannot add the principal '{0}', because it does not exist or you do not have permission.";
    CANNOT_DROP_PRINCIPAL = 15151, 16, 1, "Cannot drop the principal '{0}', because it does not exist or you do not have permission.";
    CANNOT_DROP_USER = 15151, 16, 1, "Cannot drop the user '{0}', because it does not exist or you do not have permission.";
    CANNOT_DROP_ROLE = 15151, 16, 1, "Cannot drop the role '{0}', because it does not exist or you do not have permission.";
    CANNOT_FIND_USER = 15151, 16, 1, "Cannot find the user '{0}', because it does not exist or you do not have permission.";
    CANNOT_FIND_OBJECT_GRANT = 15151, 16, 1, "Cannot find the object '{0}', because it does not exist or you do not have permission.";
    PRINCIPAL_EXISTS = 15023, 16, 1, "User, group, or role '{0}' already exists in the current database.";
    LOGIN_HAS_USER = 15063, 16, 1, "The login already has an account under a different user name.";
    NOT_A_LOGIN = 15007, 16, 1, "'{0}' is not a valid login or you do not have permission.";
    FIXED_ROLE = 15405, 11, 1, "Cannot use the special principal '{0}'.";
    ROLE_HAS_MEMBERS = 15144, 16, 1, "The role has members. It must be empty before it can be dropped.";
    EXTERNAL_PRINCIPAL_NOT_FOUND = 33130, 16, 1, "Principal '{0}' could not be found or this principal type is not supported.";
    GRANT_TO_SELF = 15151, 16, 1, "Cannot grant, deny, or revoke permissions to sa, dbo, entity owner, information_schema, sys, or yourself.";

    // Transactions.
    COMMIT_WITHOUT_BEGIN = 3902, 16, 1, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.";
    ROLLBACK_WITHOUT_BEGIN = 3903, 16, 1, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.";
    NO_TRANSACTION_TO_SAVE = 628, 16, 0, "Cannot issue SAVE TRANSACTION when there is no active transaction.";
    NO_SUCH_SAVEPOINT = 6401, 16, 1, "Cannot roll back {0}. No transaction or savepoint of that name was found.";
    TRANSACTION_COUNT_MISMATCH = 266, 16, 2, "Transaction count after EXECUTE indicates a mismatching number of BEGIN and COMMIT statements. Previous count = {0}, current count = {1}.";
    LOCK_TIMEOUT = 1222, 16, 51, "Lock request time out period exceeded.";
    SUBQUERY_MANY_VALUES = 512, 16, 1, "Subquery returned more than 1 value. This is not permitted when the subquery follows =, !=, <, <= , >, >= or when the subquery is used as an expression.";

    // System procedures and session state.
    // sp_set_session_context: Microsoft Learn's 15000-15999 table; 225, 16903 and 16914 (with
    // the procedure's internal name) as observed against SQL Server 2025 by mirek/msduck.
    SESSION_CONTEXT_READ_ONLY = 15664, 16, 1, "Cannot set key '{0}' in the session context. The key has been set as read_only for this session.";
    SESSION_CONTEXT_FULL = 15665, 16, 1, "The value was not set for key '{0}' because the total size of keys and values in the session context would exceed the 1 MB limit.";
    SESSION_CONTEXT_KEY_TOO_LONG = 15666, 16, 1, "Cannot set key '{0}' in the session context. The size of the key cannot exceed 256 bytes.";
    INVALID_PROCEDURE_PARAMETER = 15600, 15, 1, "An invalid parameter or option was specified for procedure '{0}'.";
    PROCEDURE_PARAMETERS_INVALID = 225, 16, 1, "The parameters supplied for the procedure \"{0}\" are not valid.";
    PROCEDURE_PARAMETER_COUNT = 16903, 16, 1, "The \"{0}\" procedure was called with an incorrect number of parameters.";
    PROCEDURE_TOO_MANY_PARAMETERS = 16914, 16, 1, "The \"{0}\" procedure was called with too many parameters.";
    ARGUMENT_TYPE_INVALID = 8116, 16, 1, "Argument data type {0} is invalid for argument {1} of {2} function.";

    // A read-only replica (read scale-out), as an availability group's readable secondary.
    DATABASE_READ_ONLY = 3906, 16, 1, "Failed to update database \"{0}\" because the database is read-only.";

    // Storage.
    STORAGE = 5120, 16, 101, "Unable to open the physical file: {0}.";

    // Login.
    CANNOT_EXECUTE_AS = 15517, 16, 1, "Cannot execute as the database principal because the principal \"{0}\" does not exist, this type of principal cannot be impersonated, or you do not have permission.";
    // A session reset under an identity EXECUTE AS took: the server drops the connection
    // (dotnet/efcore#27999; MicrosoftDocs/sql-docs#2001, EXECUTE AS with connection pooling).
    RESET_UNDER_IMPERSONATION = 18059, 20, 1, "The connection has been dropped because the principal that opened it subsequently assumed a new security context, and then tried to reset the connection under its impersonated security context. This scenario is not supported. See \"Impersonation Overview\" in Books Online.";
    CANNOT_OPEN_DATABASE = 4060, 11, 1, "Cannot open database \"{0}\" requested by the login. The login failed.";
    LOGIN_FAILED = 18456, 14, 1, "Login failed for user '{0}'.";
    DATABASE_EXISTS = 1801, 16, 3, "Database '{0}' already exists. Choose a different database name.";

    // sqlcmd (the client tool, not the server: number 0 as sqlcmd prints its own messages).
    SQLCMD_VARIABLE = 0, 16, 1, "'{0}' scripting variable not defined.";
    SQLCMD_COMMAND = 0, 16, 1, "Syntax error in sqlcmd command '{0}': the sandbox runs :setvar and :on error only.";
    SQLCMD_TRANSACTION_OPEN = 0, 16, 1, "The script ended with {0} transaction(s) open, which were rolled back: end each BEGIN TRANSACTION with COMMIT.";
}

/// The principal name SQL Server puts in 18456 for an access-token login.
pub(crate) const TOKEN_PRINCIPAL: &str = "<token-identified principal>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_in_order() {
        let e = PERMISSION_DENIED.with(&["SELECT", "Customer", "customers", "dbo"]);
        assert_eq!(
            e.message,
            "The SELECT permission was denied on the object 'Customer', database 'customers', schema 'dbo'."
        );
        assert_eq!((e.number, e.severity, e.state), (229, 14, 5));
    }

    #[test]
    fn a_value_containing_braces_is_copied_verbatim() {
        let e = INVALID_OBJECT.with(&["{1}"]);
        assert_eq!(e.message, "Invalid object name '{1}'.");
    }

    #[test]
    fn every_template_has_a_number_and_a_sentence() {
        for def in ALL {
            assert!(
                def.text.ends_with('.'),
                "{} should end with a period",
                def.number
            );
            // User errors, but for the one that ends the connection (a reset the server
            // refuses).
            if def.number == RESET_UNDER_IMPERSONATION.number {
                assert_eq!(def.severity, 20);
            } else {
                assert!(def.severity <= 16, "{} is a user error", def.number);
            }
        }
    }
}
