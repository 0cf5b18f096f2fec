//! The one place that decides who may do what on the admin API (seed 003).
//!
//! A request is a principal (the roles it holds, read from the store, and
//! whether it is an Auditor), a resource and an action. Handlers name the
//! resource and action and ask here; they never look at roles themselves.
//!
//! - Reads: any of the four roles, or an Auditor, except the whole-configuration
//!   resources, which need all four roles either way.
//! - Writes: the role that owns the resource. An Auditor never writes, except
//!   its own password, which any admin account may change.
//! - Role sets themselves obey two rules (`check_role_set`): Auditor stands
//!   alone, and UserAdmin needs Admin and ExpressionAdmin.

use std::collections::BTreeSet;
use std::fmt;

use signet_proto::roles::Role;

/// Who is asking, as the store describes them at request time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    pub roles: BTreeSet<Role>,
    pub auditor: bool,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.auditor || !self.roles.is_empty()
    }
}

/// What the admin API manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Admin accounts: create, deactivate, roles, others' passwords.
    AdminAccounts,
    /// The caller's own password.
    OwnPassword,
    Environments,
    /// OAuth clients of every kind and their secrets.
    Applications,
    /// A worker's admin roles, or the secret of a worker that holds any.
    PrivilegedWorkers,
    EndUsers,
    /// Sign-on and lockout policy, token lifetimes.
    Policies,
    /// Which schemes protect the admin API.
    AuthenticationSettings,
    ClaimMappings,
    SigningKeys,
    /// Certificates and the CA certificates trusted for mutual TLS.
    Certificates,
    Bulk,
    ConfigArchive,
    ConfigStore,
    Audit,
    /// Login MFA methods and enforcements (the Vault-compatible API).
    Mfa,
    /// External OpenID providers of an environment.
    IdentityProviders,
    /// An application whose tokens carry the admin API's audience (the CLI,
    /// a worker holding admin roles): whoever controls where its codes go,
    /// what it may do or its secret controls administrators' tokens, so any
    /// change to one needs every role, as the authentication settings do.
    AdminApiClients,
    /// How administrators sign on: the lockout policy, and login
    /// enforcements that reach administrators. Weakening either would weaken
    /// every admin account, which is UserAdmin's to decide.
    AdminSignOn,
    /// The CLI application's redirect URIs and grants: fixed, never changed
    /// through the API, whoever asks.
    CliApplication,
}

impl Resource {
    pub const ALL: [Resource; 20] = [
        Resource::AdminAccounts,
        Resource::OwnPassword,
        Resource::Environments,
        Resource::Applications,
        Resource::PrivilegedWorkers,
        Resource::EndUsers,
        Resource::Policies,
        Resource::AuthenticationSettings,
        Resource::ClaimMappings,
        Resource::SigningKeys,
        Resource::Certificates,
        Resource::Bulk,
        Resource::ConfigArchive,
        Resource::ConfigStore,
        Resource::Audit,
        Resource::Mfa,
        Resource::IdentityProviders,
        Resource::AdminApiClients,
        Resource::AdminSignOn,
        Resource::CliApplication,
    ];

    /// Whether reading it also needs all four roles (it exports secrets or
    /// the whole configuration).
    fn whole_configuration(self) -> bool {
        matches!(
            self,
            Resource::AuthenticationSettings | Resource::Bulk | Resource::ConfigArchive | Resource::ConfigStore
        )
    }

    /// The roles a write needs; `None`: nobody writes it through the API.
    fn writers(self) -> Option<&'static [Role]> {
        Some(match self {
            Resource::AdminAccounts | Resource::PrivilegedWorkers | Resource::AdminSignOn => &[Role::UserAdmin],
            Resource::OwnPassword => &[],
            Resource::Environments
            | Resource::Applications
            | Resource::EndUsers
            | Resource::Policies
            | Resource::Mfa
            | Resource::IdentityProviders => &[Role::Admin],
            Resource::ClaimMappings => &[Role::ExpressionAdmin],
            Resource::SigningKeys | Resource::Certificates => &[Role::CryptoAdmin],
            Resource::AuthenticationSettings
            | Resource::Bulk
            | Resource::ConfigArchive
            | Resource::ConfigStore
            | Resource::AdminApiClients => &Role::ALL,
            Resource::Audit | Resource::CliApplication => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Write,
}

/// Why a request was refused; its `Display` is the API's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Not an administrator at all.
    NotAdmin,
    /// Auditors only read.
    AuditorReadOnly,
    /// These roles are missing.
    Missing(Vec<Role>),
    /// Nobody may do this through the API.
    Never,
    /// The caller's password was set by someone else and must be replaced first.
    PasswordChangeRequired,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::NotAdmin => f.write_str("this principal holds no admin role"),
            Denied::AuditorReadOnly => f.write_str("an Auditor may only read"),
            Denied::Missing(roles) => {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                write!(f, "this needs the {} role{}", names.join(", "), if names.len() > 1 { "s" } else { "" })
            }
            Denied::Never => f.write_str("this cannot be changed through the API"),
            Denied::PasswordChangeRequired => f.write_str(
                "your password was set by someone else: replace it first (POST /accounts/{your username}/password)",
            ),
        }
    }
}

/// Decides one request.
pub fn decide(p: &Principal, resource: Resource, action: Action) -> Result<(), Denied> {
    if !p.is_admin() {
        return Err(Denied::NotAdmin);
    }
    // Any admin account may change its own password, an Auditor's included.
    if resource == Resource::OwnPassword {
        return Ok(());
    }
    let needed: &[Role] = match action {
        Action::Read if resource.whole_configuration() => &Role::ALL,
        Action::Read => return Ok(()),
        Action::Write if p.auditor => return Err(Denied::AuditorReadOnly),
        Action::Write => resource.writers().ok_or(Denied::Never)?,
    };
    let missing: Vec<Role> = needed.iter().copied().filter(|r| !p.roles.contains(r)).collect();
    if missing.is_empty() { Ok(()) } else { Err(Denied::Missing(missing)) }
}

/// Checks a role set before it is granted: Auditor cannot be combined with
/// any role, and UserAdmin needs both Admin and ExpressionAdmin, so that an
/// account without ExpressionAdmin can never grant itself that role.
pub fn check_role_set(roles: &BTreeSet<Role>, auditor: bool) -> Result<(), RoleSetError> {
    if auditor && !roles.is_empty() {
        return Err(RoleSetError::AuditorWithRoles);
    }
    if roles.contains(&Role::UserAdmin) && !(roles.contains(&Role::Admin) && roles.contains(&Role::ExpressionAdmin)) {
        return Err(RoleSetError::UserAdminAlone);
    }
    Ok(())
}

/// Why a role set cannot be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoleSetError {
    #[error("an Auditor cannot hold any other role")]
    AuditorWithRoles,
    #[error("UserAdmin can be granted only together with Admin and ExpressionAdmin")]
    UserAdminAlone,
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin as A, CryptoAdmin as C, ExpressionAdmin as E, UserAdmin as U};

    #[test]
    fn role_set_refusals_keep_their_words() {
        let words = |roles: &[Role], auditor| {
            check_role_set(&roles.iter().copied().collect(), auditor).unwrap_err().to_string()
        };
        assert_eq!(words(&[Role::Admin], true), "an Auditor cannot hold any other role");
        assert_eq!(
            words(&[Role::UserAdmin], false),
            "UserAdmin can be granted only together with Admin and ExpressionAdmin"
        );
    }

    /// Seed 003, written out by hand: for each resource, who may read and who
    /// may write. "any" is any role or an Auditor; a list is every role needed.
    fn spec(r: Resource) -> (Option<&'static [Role]>, Option<&'static [Role]>) {
        const ANY: Option<&[Role]> = Some(&[]);
        const ALL4: Option<&[Role]> = Some(&[U, A, E, C]);
        match r {
            Resource::AdminAccounts => (ANY, Some(&[U])),
            Resource::OwnPassword => (ANY, Some(&[])),
            Resource::Environments => (ANY, Some(&[A])),
            Resource::Applications => (ANY, Some(&[A])),
            Resource::PrivilegedWorkers => (ANY, Some(&[U])),
            Resource::EndUsers => (ANY, Some(&[A])),
            Resource::Policies => (ANY, Some(&[A])),
            Resource::AuthenticationSettings => (ALL4, ALL4),
            Resource::ClaimMappings => (ANY, Some(&[E])),
            Resource::SigningKeys => (ANY, Some(&[C])),
            Resource::Certificates => (ANY, Some(&[C])),
            Resource::Bulk => (ALL4, ALL4),
            Resource::ConfigArchive => (ALL4, ALL4),
            Resource::ConfigStore => (ALL4, ALL4),
            Resource::Audit => (ANY, None),
            Resource::Mfa => (ANY, Some(&[A])),
            Resource::IdentityProviders => (ANY, Some(&[A])),
            Resource::AdminApiClients => (ANY, ALL4),
            Resource::AdminSignOn => (ANY, Some(&[U])),
            Resource::CliApplication => (ANY, None),
        }
    }

    /// Every subset of the four roles, and the Auditor alone.
    fn principals() -> Vec<Principal> {
        let mut all = Vec::new();
        for bits in 0u8..16 {
            let roles = Role::ALL.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, r)| *r).collect();
            all.push(Principal { roles, auditor: false });
        }
        all.push(Principal { roles: BTreeSet::new(), auditor: true });
        all
    }

    #[test]
    fn every_role_combination_against_every_resource_and_action() {
        let mut checked = 0;
        for p in principals() {
            for r in Resource::ALL {
                let (read, write) = spec(r);
                for (action, needed) in [(Action::Read, read), (Action::Write, write)] {
                    let own_password = r == Resource::OwnPassword;
                    let expected = p.is_admin()
                        && (own_password || !(p.auditor && action == Action::Write))
                        && needed.is_some_and(|n| n.iter().all(|role| p.roles.contains(role)));
                    let got = decide(&p, r, action);
                    assert_eq!(got.is_ok(), expected, "{p:?} {action:?} {r:?}: {got:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 17 * Resource::ALL.len() * 2);
        let admin = Principal { roles: BTreeSet::from([A]), auditor: false };
        assert!(decide(&admin, Resource::AdminApiClients, Action::Write).is_err(), "Admin alone never reaches them");
    }

    #[test]
    fn refusals_name_what_is_missing() {
        let admin = Principal { roles: BTreeSet::from([A]), auditor: false };
        assert_eq!(
            decide(&admin, Resource::AdminAccounts, Action::Write).unwrap_err().to_string(),
            "this needs the UserAdmin role"
        );
        assert_eq!(
            decide(&admin, Resource::Bulk, Action::Read),
            Err(Denied::Missing(vec![U, E, C])),
            "only the missing roles are named"
        );
        let auditor = Principal { roles: BTreeSet::new(), auditor: true };
        assert_eq!(decide(&auditor, Resource::EndUsers, Action::Write), Err(Denied::AuditorReadOnly));
        let nobody = Principal { roles: BTreeSet::new(), auditor: false };
        assert_eq!(decide(&nobody, Resource::Audit, Action::Read), Err(Denied::NotAdmin));
        let all = Principal { roles: BTreeSet::from(Role::ALL), auditor: false };
        assert_eq!(decide(&all, Resource::Audit, Action::Write), Err(Denied::Never), "the trail is append-only");
    }

    #[test]
    fn role_sets_obey_seed_003() {
        assert!(check_role_set(&BTreeSet::from([U, A, E]), false).is_ok());
        assert!(check_role_set(&BTreeSet::from([U, A]), false).is_err(), "UserAdmin without ExpressionAdmin");
        assert!(check_role_set(&BTreeSet::from([U]), false).is_err());
        assert!(check_role_set(&BTreeSet::from([C]), true).is_err(), "Auditor with a role");
        assert!(check_role_set(&BTreeSet::new(), true).is_ok());
        assert!(check_role_set(&BTreeSet::from(Role::ALL), false).is_ok());
    }
}
