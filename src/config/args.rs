//! The command line: subcommands and their flags (clap). Flags that are also
//! settings name their environment variable; `Config::load` layers them over
//! the file and the defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::Role;

#[derive(Debug, Parser)]
#[command(
    name = "hummbl",
    version,
    about = "Self-hosted operations console for AI-agent workflows"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand that touches storage takes.
#[derive(Debug, Args, Default, Clone)]
pub struct CommonArgs {
    /// TOML configuration file (keys as in the README's configuration table).
    #[arg(long, env = "HUMMBL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and generated secrets [default: ./data].
    #[arg(long, env = "HUMMBL_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); without it HUMMBL uses SQLite in the data dir.
    #[arg(
        long,
        env = "HUMMBL_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web console, API and background workers.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the provider-key vault.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Generate a large demo history (for benchmarks) into the demo team.
    Demo(DemoArgs),
    /// Manage the analytics roll-ups.
    #[command(subcommand)]
    Rollups(RollupsCommand),
    /// Write a consistent copy of the database while the server runs (SQLite;
    /// on PostgreSQL it prints the pg_dump command). The master key is not in it.
    Backup(BackupArgs),
    /// Replace the database with a backup (stop the server first).
    Restore(RestoreArgs),
    /// Copy the whole database into another one (SQLite to PostgreSQL or back),
    /// verified table by table (stop every server first).
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The target: a postgres:// URL, or a data directory for an SQLite
    /// database. It is migrated here and must hold no users or teams.
    #[arg(long, hide_env_values = true)]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (it must not exist).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    pub from: PathBuf,
    /// Replace a database that holds users.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum RollupsCommand {
    /// Recompute the analytics roll-ups and the error log's groups from the raw rows.
    Rebuild,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Executions to generate.
    #[arg(long, default_value_t = 10_000)]
    pub executions: usize,
    /// Console page-view events to generate.
    #[arg(long, default_value_t = 0)]
    pub events: usize,
    /// Spread over this many days up to now.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub days: i64,
    /// Random seed (the same seed gives the same history).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-seal every stored provider key under a new master key.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The new master key, base64 of 32 bytes [default: generate one].
    #[arg(long, env = "HUMMBL_NEW_MASTER_KEY", hide_env_values = true)]
    pub new_key: Option<String>,
}

#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "HUMMBL_ADDR")]
    pub addr: Option<String>,
    /// Public URL people reach HUMMBL at; https:// makes cookies Secure.
    #[arg(long, env = "HUMMBL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Fill an empty database with a labelled demo team and print its logins.
    #[arg(long, env = "HUMMBL_DEMO")]
    pub demo: bool,
    /// Log format: `pretty` (default) or `json`.
    #[arg(long, env = "HUMMBL_LOG_FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (and the team, if it does not exist yet).
    Create(UserCreateArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// Team name; created with this user as its owner when it does not exist.
    #[arg(long)]
    pub team: String,
    #[arg(long, default_value = "owner")]
    pub role: Role,
    /// Read the password from standard input (one line).
    #[arg(long)]
    pub password_stdin: bool,
}
