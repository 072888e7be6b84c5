//! sqlcmd's rules for running a script file, so the engine runs the `sql/` scripts exactly as a
//! DBA's `sqlcmd -v NAME=value -i file.sql` would: batches end at a line holding only `GO`
//! (any case, optionally `GO n` to run it n times), `:setvar NAME value` defines a variable (and
//! wins over `-v`, as in sqlcmd), `$(NAME)` is replaced anywhere on a line, and an undefined
//! variable is an error naming it. `:on error exit|ignore` is accepted (the engine always stops at
//! the first error); other sqlcmd commands are refused rather than skipped.

use super::errors::{self, SqlError};
use std::collections::HashMap;

/// One batch of a script, with the script line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScriptBatch {
    /// The batch text, one line per script line (command lines left blank) so lines map back.
    pub text: String,
    /// The script line of the batch's first line (1-based).
    pub first_line: u32,
    /// How many times to run it (`GO n`).
    pub repeat: u32,
}

fn go_count(line: &str) -> Option<u32> {
    let line = match line.find("--") {
        Some(i) => &line[..i],
        None => line,
    };
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if !first.eq_ignore_ascii_case("GO") {
        return None;
    }
    match (words.next(), words.next()) {
        (None, _) => Some(1),
        (Some(n), None) => n.parse::<u32>().ok().filter(|n| *n > 0),
        _ => None,
    }
}

fn substitute(
    line: &str,
    vars: &HashMap<String, String>,
    line_number: u32,
) -> Result<String, SqlError> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        match vars.get(&name.to_ascii_uppercase()) {
            Some(v) => out.push_str(v),
            None => {
                let mut e = errors::SQLCMD_VARIABLE.with(&[name]);
                e.line = line_number;
                return Err(e);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits a script into batches, applying `:setvar` and `$(NAME)` substitution.
pub(crate) fn split(script: &str, vars: &[(String, String)]) -> Result<Vec<ScriptBatch>, SqlError> {
    let mut defined: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect();
    let script = script.strip_prefix('\u{feff}').unwrap_or(script);
    let mut batches = Vec::new();
    let mut current = String::new();
    let mut first_line = 1u32;
    let mut line_number = 0u32;
    for raw in script.lines() {
        line_number += 1;
        let trimmed = raw.trim();
        if let Some(repeat) = go_count(trimmed) {
            if !current.trim().is_empty() {
                batches.push(ScriptBatch {
                    text: std::mem::take(&mut current),
                    first_line,
                    repeat,
                });
            }
            current.clear();
            first_line = line_number + 1;
            continue;
        }
        if let Some(command) = trimmed.strip_prefix(':') {
            let mut words = command.split_whitespace();
            let verb = words.next().unwrap_or("").to_ascii_lowercase();
            match verb.as_str() {
                "setvar" => {
                    let rest = command.trim_start()[verb.len()..].trim();
                    let (name, value) = match rest.split_once(char::is_whitespace) {
                        Some((n, v)) => (n, v.trim()),
                        None => (rest, ""),
                    };
                    if name.is_empty() {
                        let mut e = errors::SQLCMD_COMMAND.with(&[trimmed]);
                        e.line = line_number;
                        return Err(e);
                    }
                    let value = value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .map(|v| v.replace("\"\"", "\""))
                        .unwrap_or_else(|| value.to_string());
                    if rest.contains(char::is_whitespace) {
                        defined.insert(name.to_ascii_uppercase(), value);
                    } else {
                        defined.remove(&name.to_ascii_uppercase());
                    }
                }
                "on" => {}
                _ => {
                    let mut e = errors::SQLCMD_COMMAND.with(&[trimmed]);
                    e.line = line_number;
                    return Err(e);
                }
            }
            current.push('\n');
            continue;
        }
        current.push_str(&substitute(raw, &defined, line_number)?);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        batches.push(ScriptBatch {
            text: current,
            first_line,
            repeat: 1,
        });
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn batches_end_at_go_lines_in_any_case() {
        let b = split(
            "SELECT 1\nGO\nSELECT 2\n  go  \nSELECT 3 -- GO here is not a separator\n",
            &[],
        )
        .unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].first_line, 1);
        assert_eq!(b[1].first_line, 3);
        assert_eq!(b[2].first_line, 5);
        assert!(b[2].text.contains("GO here"));
        let b = split("PRINT 'x'\nGO 3\n", &[]).unwrap();
        assert_eq!(b[0].repeat, 3);
    }

    #[test]
    fn variables_come_from_v_and_setvar_wins() {
        let b = split(
            "CREATE USER [$(IDENTITY_NAME)] FROM EXTERNAL PROVIDER",
            &vars(&[("identity_name", "app")]),
        )
        .unwrap();
        assert_eq!(b[0].text.trim(), "CREATE USER [app] FROM EXTERNAL PROVIDER");
        let b = split(
            ":setvar IDENTITY_NAME \"other app\"\nSELECT N'$(IDENTITY_NAME)'",
            &vars(&[("IDENTITY_NAME", "app")]),
        )
        .unwrap();
        assert_eq!(b[0].text.trim(), "SELECT N'other app'");
        assert_eq!(
            b[0].text.lines().count(),
            2,
            "the command line stays, blank"
        );
    }

    #[test]
    fn an_undefined_variable_is_an_error_naming_it_and_its_line() {
        let e = split("SELECT 1\nSELECT '$(MISSING)'", &[]).unwrap_err();
        assert_eq!(e.message, "'MISSING' scripting variable not defined.");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn unknown_sqlcmd_commands_are_refused() {
        let e = split(":r other.sql\nSELECT 1", &[]).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains(":r other.sql"));
        assert!(split(":on error exit\nSELECT 1", &[]).is_ok());
    }
}
