//! The subcommands: `serve`, `migrate`, `user create`, `demo`, `rollups
//! rebuild`, `keys rotate`, `backup`, `restore`, `copy`.

use std::io::BufRead;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{self, AppState};
use crate::config::{
    BackupArgs, Cli, Command, CommonArgs, Config, CopyArgs, DemoArgs, KeysCommand, LogFormat,
    RestoreArgs, RollupsCommand, RotateArgs, ServeArgs, UserCommand, UserCreateArgs,
};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(serve) => run_serve(&cli.common, &serve).await,
        Command::Migrate => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            app::prepare(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            create_user(&config, args).await
        }
        Command::Demo(args) => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            generate_demo(&config, args).await
        }
        Command::Rollups(RollupsCommand::Rebuild) => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            let db = app::prepare(&config).await?;
            let started = std::time::Instant::now();
            crate::analytics::rollups::rebuild(&db, None).await?;
            // The error log's groups are roll-ups of failures too.
            for team in crate::teams::all_ids(&db).await? {
                crate::errors::rebuild(&db, &team).await?;
            }
            db.close().await;
            println!(
                "roll-ups rebuilt in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate(args)) => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            rotate_master_key(&config, args).await
        }
        Command::Backup(args) => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            run_backup(&config, &args).await
        }
        Command::Restore(args) => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            run_restore(&config, &args).await
        }
        Command::Copy(args) => {
            let config = Config::load(&cli.common, &ServeArgs::default())?;
            init_tracing(config.log_format);
            run_copy(&config, &args).await
        }
    }
}

/// `hummbl copy --to TARGET`: the configured database into TARGET, verified.
async fn run_copy(config: &Config, args: &CopyArgs) -> anyhow::Result<()> {
    use crate::storage::Db;
    let target_dir =
        match args.to.starts_with("postgres://") || args.to.starts_with("postgresql://") {
            true => None,
            false => Some(std::path::PathBuf::from(
                args.to.strip_prefix("sqlite://").unwrap_or(&args.to),
            )),
        };
    let same = match (&target_dir, config.database_url()) {
        (Some(dir), None) => std::path::absolute(dir)? == std::path::absolute(&config.data_dir)?,
        (None, Some(url)) => url == args.to,
        _ => false,
    };
    if same {
        bail!("the target is the source database: name another one");
    }
    let source = Db::open(config.database_url(), &config.data_dir).await?;
    let target = match &target_dir {
        Some(dir) => Db::open_sqlite(dir).await?,
        None => Db::open_postgres(&args.to).await?,
    };
    let mut reporter = crate::copy::progress::Reporter::default();
    let outcome = crate::copy::copy(&source, &target, &mut |step| reporter.report(step)).await;
    source.close().await;
    target.close().await;
    let report = outcome?;
    println!("{:<32} {:>12}  checksum", "table", "rows");
    for table in &report.tables {
        println!(
            "{:<32} {:>12}  {}",
            table.name,
            table.checksum.rows,
            table.checksum.hex()
        );
    }
    let seconds = report.copy_time.as_secs_f64();
    println!(
        "copied {} rows in {} tables in {seconds:.1} s ({:.0} rows/s); every table read back and verified in {:.1} s.\n\
         Provider keys were copied sealed: start servers on the target with the same master key, which is in {}.",
        report.rows(),
        report.tables.len(),
        report.rows() as f64 / seconds.max(0.001),
        report.verify_time.as_secs_f64(),
        crate::backup::key_whereabouts(config)
    );
    Ok(())
}

async fn run_backup(config: &Config, args: &BackupArgs) -> anyhow::Result<()> {
    let db = crate::storage::Db::open(
        config.database_url.as_ref().map(|url| url.expose_secret()),
        &config.data_dir,
    )
    .await?;
    let outcome = crate::backup::backup(config, &db, &args.to).await;
    db.close().await;
    let report = outcome?;
    println!(
        "backup written: {} ({} bytes)\n\
         The master key is NOT in it. It is in {}. Keep both: without the key, the provider keys in the backup cannot be opened.",
        report.file.display(),
        report.bytes,
        report.master_key
    );
    Ok(())
}

async fn run_restore(config: &Config, args: &RestoreArgs) -> anyhow::Result<()> {
    let report = crate::backup::restore(config, &args.from, args.force).await?;
    println!(
        "restored {} (schema migration {}, brought up to date): {} users in {} teams. Start the server again.",
        args.from.display(),
        report.backup_version,
        report.users,
        report.teams
    );
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    if let Err(err) = result {
        eprintln!("logging was already set up: {err}");
    }
}

async fn run_serve(common: &CommonArgs, serve: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(common, serve)?;
    init_tracing(config.log_format);
    let db = app::prepare(&config).await?;
    let vault = crate::vault::open_configured(&config, &db).await?;
    let demo = match config.demo {
        true => Some(crate::demo::seed(&db, &vault).await?),
        false => None,
    };
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let local = listener.local_addr()?;
    match demo {
        Some(crate::demo::DemoOutcome::NotEmpty) => {
            tracing::warn!("--demo: the database already holds other data; no demo data added")
        }
        Some(_) => {
            let base_url = config
                .public_url
                .as_ref()
                .map(|url| url.to_string())
                .unwrap_or_else(|| format!("http://{local}"));
            println!("{}", crate::demo::logins_text(&base_url));
        }
        None => {}
    }
    tracing::info!(addr = %local, backend = ?db.backend(), "HUMMBL listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let state = AppState::new(db, config, vault, shutdown)?;
    if state.mailer.is_on() {
        if state.config.public_url.is_none() {
            tracing::warn!(links = %state.config.link_base(), "mail is on but public_url is not set: links in mail use this server's address");
        }
    } else {
        tracing::warn!(
            "mail is off (no smtp_url): invitations wait in the outbox; admins copy their links on the Team page"
        );
    }
    app::serve(listener, state).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn cancel_on_signal(token: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
    token.cancel();
}

async fn create_user(config: &Config, args: UserCreateArgs) -> anyhow::Result<()> {
    if !args.password_stdin {
        bail!("pass --password-stdin and write the password on standard input");
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    let friendly = |err: crate::error::AppError| anyhow::anyhow!("{err}");
    crate::auth::password::validate_new_password(&password).map_err(friendly)?;
    let email = crate::accounts::Email::parse(&args.email).map_err(friendly)?;
    let name = crate::accounts::parse_name("name", &args.name).map_err(friendly)?;
    let team_name = crate::teams::parse_team_name(&args.team).map_err(friendly)?;

    let db = app::prepare(config).await?;
    let user = crate::accounts::create_user(
        &db,
        crate::accounts::NewUser {
            email: &email,
            name: &name,
            password: SecretString::from(password),
        },
    )
    .await
    .map_err(friendly)?;
    match crate::teams::find_team_by_name(&db, &team_name).await? {
        Some(team_id) => {
            crate::teams::add_member(&db, &team_id, &user.id, args.role, None)
                .await
                .map_err(friendly)?;
            println!(
                "created {} as {} of existing team {team_name:?}",
                user.email, args.role
            );
        }
        None => {
            if args.role != crate::auth::Role::Owner {
                bail!("team {team_name:?} does not exist; its first user must be --role owner");
            }
            crate::teams::create_team(&db, &team_name, &user.id, false).await?;
            println!("created {} as owner of new team {team_name:?}", user.email);
        }
    }
    db.close().await;
    Ok(())
}

/// `hummbl keys rotate`: with a file key, the new key is written beside it
/// (`master.key.next`), every row is re-sealed in one transaction, then the new
/// file replaces the old; a crash in between is finished at the next start.
/// With `HUMMBL_MASTER_KEY`, the operator swaps the variable afterwards.
async fn rotate_master_key(config: &Config, args: RotateArgs) -> anyhow::Result<()> {
    use crate::vault::{MasterKey, master};
    use secrecy::ExposeSecret;

    let key_file = config.data_dir.join(master::FILE_NAME);
    let old = match &config.master_key {
        Some(text) => MasterKey::parse(text.expose_secret())?,
        None if key_file.exists() => MasterKey::load_or_create(None, &config.data_dir)?.0,
        None => bail!(
            "no master key yet ({} does not exist and HUMMBL_MASTER_KEY is not set): nothing to rotate",
            key_file.display()
        ),
    };
    let generated = args.new_key.is_none();
    let new = match &args.new_key {
        Some(text) => MasterKey::parse(text).context("--new-key")?,
        None => MasterKey::generate()?,
    };
    let db = app::prepare(config).await?;
    let next_file = config.data_dir.join(master::NEXT_FILE_NAME);
    let file_based = config.master_key.is_none();
    if file_based {
        master::write_file(&next_file, &new).context(
            "a previous rotation did not finish: start the server once to complete it, or remove master.key.next",
        )?;
    }
    let resealed = match crate::vault::rotate(&db, &old, &new).await {
        Ok(count) => count,
        Err(err) => {
            if file_based {
                let _ = std::fs::remove_file(&next_file);
            }
            return Err(err);
        }
    };
    db.close().await;
    if file_based {
        std::fs::rename(&next_file, &key_file)?;
        println!(
            "re-sealed {resealed} provider keys; {} now holds the new master key: back it up",
            key_file.display()
        );
    } else {
        println!("re-sealed {resealed} provider keys under the new master key.");
        if generated {
            println!(
                "Set HUMMBL_MASTER_KEY to this value before the next start (it is shown once):\n{}",
                new.to_base64().expose_secret()
            );
        } else {
            println!("Set HUMMBL_MASTER_KEY to the new key before the next start.");
        }
    }
    Ok(())
}

/// `hummbl demo --executions N --events M`: a large generated history.
async fn generate_demo(config: &Config, args: DemoArgs) -> anyhow::Result<()> {
    let db = app::prepare(config).await?;
    let vault = crate::vault::open_configured(config, &db).await?;
    let spec = crate::demo::history::HistorySpec {
        executions: args.executions,
        events: args.events,
        days: args.days,
        end_ms: crate::storage::now_ms(),
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let step = (args.executions / 20).max(1);
    crate::demo::generate_large(&db, &vault, &spec, |done| {
        if done % step < 500 || done == args.executions {
            eprintln!(
                "  {done} executions written ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    })
    .await?;
    db.close().await;
    println!(
        "generated {} executions and {} page views over {} days in {:.1} s",
        args.executions,
        args.events,
        args.days,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
