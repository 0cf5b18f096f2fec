//! Exit codes, documented in the README. Only `main` turns them into a process exit.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Ok = 0,
    /// An error: bad input, an unreachable provider, a refused request.
    Error = 1,
    /// The command line itself is wrong (clap's usage errors).
    Usage = 2,
    /// A configured service needs a sign-on: `signet auth status` found one not authenticated.
    AuthRequired = 4,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}
