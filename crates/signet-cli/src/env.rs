//! The environment variables `signet` reads besides the per-key `SIGNET_*`
//! ones, which `signet config list-keys` shows.

/// The configuration file to use instead of `$XDG_CONFIG_HOME/signet/config.toml`.
pub const CONFIG: &str = "SIGNET_CONFIG";
/// The profile to use instead of the active one (`-P` wins).
pub const PROFILE: &str = "SIGNET_PROFILE";
/// The command that opens URLs (a browser); when unset, the desktop's opener.
pub const BROWSER: &str = "BROWSER";
/// Where file-stored tokens live: `$XDG_STATE_HOME/signet`.
pub const STATE_HOME: &str = "XDG_STATE_HOME";
/// `security_token`: commands use the profile's session, as `--auth` does.
pub const AUTH: &str = "SIGNET_AUTH";
