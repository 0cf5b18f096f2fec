//! `signet mfa …` as clap reads it: login MFA methods and enforcements on
//! signetd's Vault-compatible API. Each method type is a subcommand of
//! `create` and `update`, so it takes exactly its own Vault fields.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use signet_proto::roles::Role;

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Login MFA methods: TOTP, PingID, Okta Verify and Duo.
    #[command(subcommand)]
    Method(MethodCommand),
    /// Login enforcements: which sign-ons must pass one of which methods.
    #[command(subcommand)]
    Enforcement(EnforcementCommand),
}

/// A method type, as Vault names it in paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodType {
    Totp,
    Pingid,
    Okta,
    Duo,
}

impl MethodType {
    pub fn as_str(self) -> &'static str {
        match self {
            MethodType::Totp => "totp",
            MethodType::Pingid => "pingid",
            MethodType::Okta => "okta",
            MethodType::Duo => "duo",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum MethodCommand {
    /// Create a method of a type; its id is printed.
    #[command(subcommand, subcommand_value_name = "TYPE", subcommand_help_heading = "Types")]
    Create(NewMethod),
    /// Replace a method's settings: every field of its type is given again
    /// (absent ones take their defaults), except --method-name and
    /// --username-format, which stay when not given.
    #[command(subcommand, subcommand_value_name = "TYPE", subcommand_help_heading = "Types")]
    Update(ChangedMethod),
    /// One method: read TYPE ID, or read ID whatever its type.
    Read {
        /// The method's type, or its id.
        #[arg(value_name = "TYPE|ID")]
        first: String,
        /// The method's id, after its type.
        #[arg(value_name = "ID")]
        id: Option<String>,
    },
    /// Delete a method that no enforcement uses.
    Delete {
        #[arg(value_name = "TYPE")]
        kind: MethodType,
        /// The method's id.
        id: String,
    },
    /// Every method, or those of one type.
    List {
        #[arg(value_name = "TYPE")]
        kind: Option<MethodType>,
    },
}

/// The fields every method type takes.
#[derive(Debug, Args)]
pub struct Common {
    /// A unique name for the method.
    #[arg(long, value_name = "NAME")]
    pub method_name: Option<String>,
    /// How a sign-on's identity becomes the provider's username, e.g. "{{identity.entity.name}}@example.com".
    #[arg(long, value_name = "FORMAT")]
    pub username_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TotpAlgorithm {
    #[value(name = "SHA1", alias = "sha1")]
    Sha1,
    #[value(name = "SHA256", alias = "sha256")]
    Sha256,
    #[value(name = "SHA512", alias = "sha512")]
    Sha512,
}

impl TotpAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }
}

// Vault's TOTP fields; signetd applies Vault's defaults and rules.
#[derive(Debug, Args)]
pub struct TotpArgs {
    #[command(flatten)]
    pub common: Common,
    /// The issuer authenticator apps show.
    #[arg(long)]
    pub issuer: String,
    /// Seconds a code lasts [default: 30].
    #[arg(long)]
    pub period: Option<u32>,
    /// Bytes of each person's secret [default: 20].
    #[arg(long)]
    pub key_size: Option<u32>,
    /// Pixels of the enrolment QR code [default: 200].
    #[arg(long)]
    pub qr_size: Option<u32>,
    #[arg(long, value_enum)]
    pub algorithm: Option<TotpAlgorithm>,
    /// 6 or 8 [default: 6].
    #[arg(long)]
    pub digits: Option<u32>,
    /// Periods of clock drift allowed either way, 0 or 1 [default: 1].
    #[arg(long)]
    pub skew: Option<u32>,
    /// Wrong codes before a sign-on must start again [default: 5].
    #[arg(long)]
    pub max_validation_attempts: Option<u32>,
}

#[derive(Debug, Args)]
pub struct PingidArgs {
    #[command(flatten)]
    pub common: Common,
    /// The PingID settings file from PingOne (it holds the org's token and key).
    #[arg(long, value_name = "FILE")]
    pub settings_file: PathBuf,
}

#[derive(Debug, Args)]
pub struct OktaArgs {
    #[command(flatten)]
    pub common: Common,
    /// The Okta organisation, as in https://ORG.okta.com.
    #[arg(long)]
    pub org_name: String,
    /// The Okta domain (okta.com, oktapreview.com, …) or a full URL.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Match people by their primary email rather than their login.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub primary_email: Option<bool>,
    /// Without --base-url: okta.com when true, oktapreview.com when false [default: true].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub production: Option<bool>,
    /// Read the API token from this file, or from stdin with -; asked for
    /// without echo on a terminal otherwise. Never an argument.
    #[arg(long, value_name = "FILE|-")]
    pub api_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DuoArgs {
    #[command(flatten)]
    pub common: Common,
    /// The Auth API's host, e.g. api-XXXXXXXX.duosecurity.com.
    #[arg(long)]
    pub api_hostname: String,
    #[arg(long)]
    pub integration_key: String,
    /// Extra key=value pairs shown in the push, URL-encoded.
    #[arg(long)]
    pub push_info: Option<String>,
    /// Ask for a passcode instead of sending a push.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub use_passcode: Option<bool>,
    /// Read the secret key from this file, or from stdin with -; asked for
    /// without echo on a terminal otherwise. Never an argument.
    #[arg(long, value_name = "FILE|-")]
    pub secret_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum NewMethod {
    /// Codes from an authenticator app (RFC 6238).
    Totp(TotpArgs),
    /// PingID, set up by the settings file PingOne provides.
    Pingid(PingidArgs),
    /// Okta Verify, through an Okta organisation's API.
    Okta(OktaArgs),
    /// Duo push or passcode, through Duo's Auth API.
    Duo(DuoArgs),
}

#[derive(Debug, Subcommand)]
pub enum ChangedMethod {
    /// Replace a TOTP method's settings.
    Totp {
        /// The method's id.
        id: String,
        #[command(flatten)]
        args: TotpArgs,
    },
    /// Replace a PingID method's settings with a new settings file.
    Pingid {
        /// The method's id.
        id: String,
        #[command(flatten)]
        args: PingidArgs,
    },
    /// Replace an Okta method's settings; its API token is read again.
    Okta {
        /// The method's id.
        id: String,
        #[command(flatten)]
        args: OktaArgs,
    },
    /// Replace a Duo method's settings; its secret key is read again.
    Duo {
        /// The method's id.
        id: String,
        #[command(flatten)]
        args: DuoArgs,
    },
}

/// How a person signed on, as an enforcement targets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignOnKind {
    Password,
    Federated,
    Ldap,
    Radius,
}

impl SignOnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignOnKind::Password => "password",
            SignOnKind::Federated => "federated",
            SignOnKind::Ldap => "ldap",
            SignOnKind::Radius => "radius",
        }
    }
}

/// A group: signetd's groups are the roles, and Auditor. Checked here so a
/// typo fails before anything is sent; case is forgiven.
fn group(s: &str) -> Result<String, String> {
    let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).chain(std::iter::once("Auditor")).collect();
    match names.iter().find(|n| n.eq_ignore_ascii_case(s.trim())) {
        Some(n) => Ok((*n).to_owned()),
        None => Err(format!("no such group\nhint: the groups are {}", names.join(", "))),
    }
}

#[derive(Debug, Subcommand)]
pub enum EnforcementCommand {
    /// Create an enforcement, or replace the one of that name: a sign-on
    /// matching any target must pass one of the methods. As in Vault, a
    /// replacement keeps the target lists it is not given.
    #[command(group(ArgGroup::new("target").required(true).multiple(true).args(["auth_method_types", "accessors", "groups", "entities"])))]
    Create {
        name: String,
        /// A method it asks for; repeat or separate with commas.
        #[arg(long = "method-id", value_name = "ID", value_delimiter = ',', required = true)]
        method_ids: Vec<String>,
        /// Sign-ons of this kind; repeat or separate with commas.
        #[arg(long = "auth-method-type", value_name = "TYPE", value_enum, value_delimiter = ',')]
        auth_method_types: Vec<SignOnKind>,
        /// Sign-ons to this environment (its id); repeat or separate with commas.
        #[arg(long = "accessor", value_name = "ENV_ID", value_delimiter = ',')]
        accessors: Vec<String>,
        /// Sign-ons of accounts in this group (a role, or Auditor); repeat or separate with commas.
        #[arg(long = "group", value_name = "GROUP", value_delimiter = ',', value_parser = group)]
        groups: Vec<String>,
        /// Sign-ons of this account (its id); repeat or separate with commas.
        #[arg(long = "entity", value_name = "ACCOUNT_ID", value_delimiter = ',')]
        entities: Vec<String>,
    },
    /// One enforcement.
    Read { name: String },
    /// Delete an enforcement.
    Delete { name: String },
    /// Every enforcement.
    List,
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_are_roles_or_auditor_with_case_forgiven() {
        assert_eq!(group("cryptoadmin").unwrap(), "CryptoAdmin");
        assert_eq!(group(" Auditor ").unwrap(), "Auditor");
        assert!(group("devs").unwrap_err().contains("hint: the groups are UserAdmin, Admin"));
    }
}
