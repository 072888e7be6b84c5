//! `CREATE USER` (from an external provider, a login, with a password, without login),
//! `GRANT`/`DENY`/`REVOKE`, and `EXECUTE AS USER` / `REVERT`.

use super::{Batch, Exec};
use crate::sql::errors;
use crate::sql::errors::SqlError;
use crate::sql::parse::{NewUser, PermissionVerb};
use crate::sql::principals::{Kind, Permission, Principals, Securable};
use crate::sql::schema::Schema;
use crate::sql::session::{Identity, Session};
use crate::sql::sqlite_functions;
use sqlparser::ast::ObjectName;

impl Exec<'_> {
    /// `EXECUTE AS USER = 'name'`: the session acts as that database user (its roles and
    /// permissions) until `REVERT`. The IMPERSONATE permission is not modelled: the database's
    /// owners (`dbo`, `db_owner`) may impersonate any user, others get 15517, as does a name that
    /// is no user.
    pub(super) fn execute_as(&mut self, b: &mut Batch<'_>, name: &str) -> Result<(), SqlError> {
        let session = &mut *b.session;
        let owner = session.is_admin || session.roles.iter().any(|r| r == "db_owner");
        let target = self
            .meta
            .principals
            .find(name)
            .filter(|p| !matches!(p.kind, Kind::Role { .. }) && owner)
            .ok_or_else(|| errors::CANNOT_EXECUTE_AS.with(&[name]))?;
        let identity = Identity {
            user: target.name.clone(),
            roles: self.meta.principals.roles_of(target.id),
            principal_id: target.id,
            is_admin: false,
        };
        session.impersonation.push(Identity {
            user: std::mem::take(&mut session.user),
            roles: std::mem::take(&mut session.roles),
            principal_id: session.principal_id,
            is_admin: session.is_admin,
        });
        self.become_identity(session, identity);
        Ok(())
    }

    /// `REVERT`: back to the identity before the last `EXECUTE AS` (nothing when there is none).
    pub(super) fn revert(&mut self, b: &mut Batch<'_>) {
        if let Some(previous) = b.session.impersonation.pop() {
            self.become_identity(b.session, previous);
        }
    }

    /// Makes `session` act as `identity`, for this batch's next statements too.
    fn become_identity(&mut self, session: &mut Session, identity: Identity) {
        {
            let mut ctx = self.ctx_lock();
            ctx.session.user = identity.user.clone();
            ctx.session.roles = identity.roles.clone();
            ctx.session.principal_id = i64::from(identity.principal_id);
            ctx.session.is_admin = identity.is_admin;
        }
        session.user = identity.user;
        session.roles = identity.roles;
        session.principal_id = identity.principal_id;
        session.is_admin = identity.is_admin;
    }

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
