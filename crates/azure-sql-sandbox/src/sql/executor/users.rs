//! `CREATE USER` (from an external provider, a login, with a password, without login) and
//! `GRANT`/`DENY`/`REVOKE`.

use super::{Batch, Exec};
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::parse::{NewUser, PermissionVerb};
use crate::sql::principals::{Permission, Principals, Securable};
use crate::sql::schema::Schema;
use crate::sql::sqlite_functions;
use sqlparser::ast::ObjectName;

impl Exec<'_> {
    pub(super) fn create_user(
        &mut self,
        b: &mut Batch<'_>,
        name: &str,
        how: &NewUser,
    ) -> Result<(), SqlError> {
        if !Principals::may_manage_users(b.session) {
            return Err(errors::NO_PERMISSION.plain());
        }
        let now = sqlite_functions::now();
        match how {
            NewUser::External { object_id } => {
                let lookup = object_id.as_deref().unwrap_or(name);
                let entry = b
                    .directory
                    .find(lookup)
                    .ok_or_else(|| errors::EXTERNAL_PRINCIPAL_NOT_FOUND.with(&[name]))?;
                self.meta_mut()
                    .principals
                    .create_external_user(name, &entry, &now)?;
            }
            NewUser::Password(password) => {
                self.meta_mut()
                    .principals
                    .create_local_user(name, Some(password), &now)?
            }
            NewUser::WithoutLogin => self
                .meta_mut()
                .principals
                .create_local_user(name, None, &now)?,
            NewUser::FromLogin(login) => {
                if b.logins.iter().any(|l| l.eq_ignore_ascii_case(login)) {
                    return Err(errors::LOGIN_HAS_USER.plain());
                }
                return Err(errors::NOT_A_LOGIN.with(&[login]));
            }
        }
        self.done(b, None);
        Ok(())
    }

    pub(super) fn permission(
        &mut self,
        b: &mut Batch<'_>,
        verb: PermissionVerb,
        permissions: &[String],
        on: Option<&(Option<String>, ObjectName)>,
        principals: &[String],
        db: &str,
    ) -> Result<(), SqlError> {
        let securable = match on {
            None => Securable::Database,
            Some((class, name)) => match class.as_deref() {
                None | Some("OBJECT") => {
                    let shown = crate::sql::catalog::display_name(name);
                    match self.meta.catalog.resolve(name, db) {
                        Ok(t) if t.schema == Schema::Dbo => Securable::Object(t.object_id),
                        _ => return Err(errors::CANNOT_FIND_OBJECT_GRANT.with(&[&shown])),
                    }
                }
                Some("SCHEMA") => {
                    let n = crate::sql::catalog::display_name(name);
                    if !n.eq_ignore_ascii_case("dbo") {
                        return Err(errors::CANNOT_FIND_OBJECT_GRANT.with(&[&n]));
                    }
                    Securable::Schema(Schema::Dbo.id())
                }
                Some("DATABASE") => Securable::Database,
                Some(other) => {
                    return Err(errors::NOT_SUPPORTED.with(&[&format!("permissions on {other}::")]))
                }
            },
        };
        if !self.meta.principals.may_manage_role(b.session, None) {
            return Err(match on {
                Some((_, name)) => errors::CANNOT_FIND_OBJECT_GRANT
                    .with(&[&crate::sql::catalog::display_name(name)]),
                None => errors::NO_PERMISSION.plain(),
            });
        }
        let mut list = Vec::new();
        for p in permissions {
            if p == "ALL" || p == "ALL PRIVILEGES" {
                list.extend([
                    Permission::Select,
                    Permission::Insert,
                    Permission::Update,
                    Permission::Delete,
                    Permission::References,
                ]);
            } else {
                list.push(
                    Permission::parse(p)
                        .ok_or_else(|| errors::NOT_SUPPORTED.with(&[&format!("permission {p}")]))?,
                );
            }
        }
        for principal in principals {
            for permission in &list {
                self.meta_mut().principals.set_permission(
                    principal,
                    *permission,
                    securable.clone(),
                    verb == PermissionVerb::Deny,
                    verb == PermissionVerb::Revoke,
                )?;
            }
        }
        self.done(b, None);
        Ok(())
    }
}
