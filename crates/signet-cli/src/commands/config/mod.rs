//! `signet config …`: settings and profiles.

mod get;
mod keys;
mod profiles;
mod set;

use super::Ctx;
use crate::cli::ConfigCommand;
use crate::exit::ExitCode;

pub fn run(ctx: &Ctx, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Set { assignment, stdin } => set::set(ctx, &assignment, stdin),
        ConfigCommand::Unset { key } => set::unset(ctx, &key),
        ConfigCommand::Get { key, unmask } => get::get(ctx, &key, unmask),
        ConfigCommand::ListKeys => keys::list_keys(ctx),
        ConfigCommand::ListProfiles => profiles::list(ctx),
        ConfigCommand::AddProfile(a) => profiles::add(ctx, &a.name, a.description.as_deref(), a.set_active),
        ConfigCommand::DeleteProfile { name } => profiles::delete(ctx, &name),
        ConfigCommand::SetActiveProfile { name } => profiles::set_active(ctx, &name),
        ConfigCommand::ViewProfile { name, unmask } => profiles::view(ctx, name.as_deref(), unmask),
    }
}
