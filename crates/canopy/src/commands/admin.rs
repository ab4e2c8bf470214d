//! `canopy admin …`.

use crate::cli::{BanArgs, CreateUser, InstanceCommand, QueueArgs, ResyncArgs, UnbanArgs};
use crate::config::Settings;
use crate::database::Database;
use anyhow::{anyhow, bail, Context};
use canopy::node::{self, Node};
use canopy_api::routes::admin::{InstanceQueue, InstancesReport, QueueReport};
use chrono::{DateTime, Utc};
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};

/// Create a local user and print it as JSON.
pub async fn create_user(settings: Settings, args: CreateUser) -> anyhow::Result<()> {
    let password = match args.password {
        Some(p) => p,
        None => read_password()?,
    };
    if password.is_empty() {
        bail!("the password must not be empty");
    }

    let db = Database::open(&settings.config).await?;
    let result = async {
        // An admin command leaves the federation mode to the serve and worker processes.
        let options = canopy::Options {
            federation_mode: None,
            backfill: None,
            ..settings.config.options()
        };
        let node = Node::build(db.pool.clone(), settings.public_base.clone(), options).await?;
        canopy_api::accounts::create_account(
            node.api(),
            &args.name,
            &password,
            args.display_name.as_deref(),
            args.admin,
        )
        .await
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("creating user {}", args.name))
    }
    .await;
    db.close().await?;

    let user = result?;
    let json = serde_json::to_string(&user).context("printing the new user")?;
    #[allow(clippy::print_stdout)] // the command's output
    {
        println!("{json}");
    }
    Ok(())
}

/// Print the delivery queue per remote instance, as a table or as JSON.
pub async fn queue(settings: Settings, args: QueueArgs) -> anyhow::Result<()> {
    let db = Database::open(&settings.config).await?;
    let result = async {
        node::migrate(&db.pool).await?;
        canopy_api::routes::admin::queue_report(&db.pool)
            .await
            .context("reading the delivery queue")
    }
    .await;
    db.close().await?;

    let report = result?;
    let text = if args.json {
        serde_json::to_string(&report).context("printing the queue")? + "\n"
    } else {
        table(&report)
    };
    #[allow(clippy::print_stdout)] // the command's output
    {
        print!("{text}");
    }
    Ok(())
}

/// The report as a table with a header, one line per instance and a summary line.
fn table(report: &QueueReport) -> String {
    if report.instances.is_empty() {
        return "No deliveries queued or made yet.\n".into();
    }
    let header = [
        "INSTANCE",
        "STATE",
        "PENDING",
        "OLDEST",
        "SUCCEEDED",
        "FAILED",
        "FAILING SINCE",
        "NEXT PROBE",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 9]> = report.instances.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Counts are right-aligned; the last column is not padded.
    let numeric = [false, false, true, true, true, true, false, false, false];
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths[i];
            let _ = match (i + 1 == cells.len(), numeric[i]) {
                (true, _) => write!(text, "{cell}"),
                (false, true) => write!(text, "{cell:>w$}  "),
                (false, false) => write!(text, "{cell:<w$}  "),
            };
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header.map(String::from));
    for r in &rows {
        line(r);
    }
    let unreachable = report
        .instances
        .iter()
        .filter(|i| i.state == "unreachable")
        .count();
    let _ = writeln!(
        out,
        "{} pending deliveries; {} instances, {unreachable} unreachable.",
        report.pending,
        report.instances.len()
    );
    out
}

fn row(i: &InstanceQueue) -> [String; 9] {
    let error = i
        .last_error
        .as_deref()
        .map(|e| {
            let line = e.lines().next().unwrap_or_default();
            let mut short: String = line.chars().take(80).collect();
            if short.len() < e.len() {
                short.push('…');
            }
            short
        })
        .unwrap_or_else(|| "-".into());
    [
        i.authority.clone(),
        i.state.clone(),
        i.pending.to_string(),
        i.oldest_pending_age_secs.map_or_else(|| "-".into(), age),
        i.succeeded.to_string(),
        i.failed.to_string(),
        time(i.failing_since),
        time(i.next_probe_at),
        error,
    ]
}

/// `45s`, `12m 5s`, `3h 20m`, `2d 4h`: the two largest units.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let Some(first) = units.iter().position(|(n, _)| secs >= *n) else {
        return "0s".into();
    };
    let (big, big_unit) = units[first];
    let mut text = format!("{}{big_unit}", secs / big);
    if let Some((small, small_unit)) = units.get(first + 1) {
        let rest = (secs % big) / small;
        if rest > 0 {
            let _ = write!(text, " {rest}{small_unit}");
        }
    }
    text
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

/// One line from stdin, without its line ending; prompts when stdin is a terminal.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (will be echoed): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `canopy admin instance …`: change the instance policy, or list the known instances.
pub async fn instance(settings: Settings, command: InstanceCommand) -> anyhow::Result<()> {
    use canopy_api::routes::admin as api;
    let db = Database::open(&settings.config).await?;
    let result = async {
        node::migrate(&db.pool).await?;
        let pool = &db.pool;
        let text = match command {
            InstanceCommand::List(args) => {
                let report = api::instances_report(pool)
                    .await
                    .context("reading the instances")?;
                if args.json {
                    serde_json::to_string(&report).context("printing the instances")? + "\n"
                } else {
                    instance_table(&report)
                }
            }
            InstanceCommand::Block { host, reason } => {
                let c = api::block_instance(pool, &host, reason.as_deref())
                    .await
                    .map_err(|e| anyhow!("{}", e.message))?;
                format!(
                    "Blocked {}: {} pending deliveries dropped, {} follows ended.\n",
                    c.authority, c.deliveries_dropped, c.follows_ended
                )
            }
            InstanceCommand::Unblock { host } => {
                let c = api::unblock_instance(pool, &host)
                    .await
                    .map_err(|e| anyhow!("{}", e.message))?;
                if c.changed {
                    format!("Unblocked {}.\n", c.authority)
                } else {
                    format!("{} was not blocked.\n", c.authority)
                }
            }
            InstanceCommand::Allow { host } => {
                let c = api::set_allowed(pool, &host, true)
                    .await
                    .map_err(|e| anyhow!("{}", e.message))?;
                if c.changed {
                    format!("Allowed {}.\n", c.authority)
                } else {
                    format!("{} was already allowed.\n", c.authority)
                }
            }
            InstanceCommand::Disallow { host } => {
                let c = api::set_allowed(pool, &host, false)
                    .await
                    .map_err(|e| anyhow!("{}", e.message))?;
                if c.changed {
                    format!("{} is no longer allowed.\n", c.authority)
                } else {
                    format!("{} was not allowed.\n", c.authority)
                }
            }
        };
        anyhow::Ok(text)
    }
    .await;
    db.close().await?;
    let text = result?;
    #[allow(clippy::print_stdout)] // the command's output
    {
        print!("{text}");
    }
    Ok(())
}

/// `canopy admin ban …`: ban a person from this node (as `/api/v1/admin/bans` does).
pub async fn ban(settings: Settings, args: BanArgs) -> anyhow::Result<()> {
    use canopy_api::routes::bans as api;
    let db = Database::open(&settings.config).await?;
    let result = async {
        node::migrate(&db.pool).await?;
        let admin = api::acting_admin(&db.pool, args.as_admin.as_deref())
            .await
            .map_err(|e| anyhow!("{}", e.message))?;
        let req = api::BanRequest {
            person: args.person.clone(),
            reason: args.reason,
            expires: args.expires,
            remove_data: args.remove_data,
        };
        api::ban_site(&db.pool, &settings.public_base, &admin, &req)
            .await
            .map_err(|e| anyhow!("{}", e.message))?;
        anyhow::Ok(format!("Banned {} from this node.\n", args.person))
    }
    .await;
    db.close().await?;
    let text = result?;
    #[allow(clippy::print_stdout)] // the command's output
    {
        print!("{text}");
    }
    Ok(())
}

/// `canopy admin unban …`: lift a person's ban from this node.
pub async fn unban(settings: Settings, args: UnbanArgs) -> anyhow::Result<()> {
    use canopy_api::routes::bans as api;
    let db = Database::open(&settings.config).await?;
    let result = async {
        node::migrate(&db.pool).await?;
        let admin = api::acting_admin(&db.pool, args.as_admin.as_deref())
            .await
            .map_err(|e| anyhow!("{}", e.message))?;
        let lifted = api::unban_site(&db.pool, &settings.public_base, &admin, &args.person)
            .await
            .map_err(|e| anyhow!("{}", e.message))?;
        anyhow::Ok(if lifted {
            format!("Unbanned {}.\n", args.person)
        } else {
            format!("{} was not banned.\n", args.person)
        })
    }
    .await;
    db.close().await?;
    let text = result?;
    #[allow(clippy::print_stdout)] // the command's output
    {
        print!("{text}");
    }
    Ok(())
}

/// The instance list as a table, with a summary line.
fn instance_table(report: &InstancesReport) -> String {
    let header = [
        "INSTANCE",
        "SOFTWARE",
        "STATE",
        "PENDING",
        "PERSONS",
        "COMMUNITIES",
        "POSTS",
        "COMMENTS",
        "POLICY",
        "REASON",
    ];
    let rows: Vec<Vec<String>> = report
        .instances
        .iter()
        .map(|i| {
            let software = match (&i.software, &i.version) {
                (Some(s), Some(v)) => format!("{s} {v}"),
                (Some(s), None) => s.clone(),
                _ => "-".into(),
            };
            let policy = match (i.is_local, i.blocked, i.allowed, i.federates) {
                (true, ..) => "local",
                (_, true, ..) => "blocked",
                (_, _, true, _) => "allowed",
                (_, _, _, true) => "open",
                _ => "not listed",
            };
            vec![
                i.authority.clone(),
                software,
                i.delivery_state.clone(),
                i.pending_deliveries.to_string(),
                i.persons.to_string(),
                i.communities.to_string(),
                i.posts.to_string(),
                i.comments.to_string(),
                policy.into(),
                i.block_reason.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let numeric = [
        false, false, false, true, true, true, true, true, false, false,
    ];
    let mut out = columns(&header.map(String::from), &rows, &numeric);
    let blocked = report.instances.iter().filter(|i| i.blocked).count();
    let _ = writeln!(
        out,
        "Federation mode {}; {} instances, {blocked} blocked.",
        report.federation_mode,
        report.instances.len()
    );
    out
}

/// Rows under a header, columns padded to their widest cell (`numeric` ones right-aligned),
/// the last column unpadded.
fn columns(header: &[String], rows: &[Vec<String>], numeric: &[bool]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths[i];
            let _ = match (
                i + 1 == cells.len(),
                numeric.get(i).copied().unwrap_or(false),
            ) {
                (true, _) => write!(text, "{cell}"),
                (false, true) => write!(text, "{cell:>w$}  "),
                (false, false) => write!(text, "{cell:<w$}  "),
            };
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// `canopy admin resync URL`: sync what URL names with its home now, and print what was added.
pub async fn resync(settings: Settings, args: ResyncArgs) -> anyhow::Result<()> {
    let url = url::Url::parse(args.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| anyhow!("{:?} is not an http(s) URL", args.url))?;
    let db = Database::open(&settings.config).await?;
    let result = async {
        let options = canopy::Options {
            federation_mode: None,
            backfill: None,
            ..settings.config.options()
        };
        let node = Node::build(db.pool.clone(), settings.public_base.clone(), options).await?;
        let backfill = settings.config.backfill();
        let hosts = canopy_federation::backfill::HostLimits::new(backfill.per_host);
        let data = node.federation().request_data();
        let done = canopy_federation::backfill::resync_url(&url, &data, &backfill, &hosts)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        anyhow::Ok(resync_text(&url, &done.into()))
    }
    .await;
    db.close().await?;
    let text = result?;
    #[allow(clippy::print_stdout)] // the command's output
    {
        print!("{text}");
    }
    Ok(())
}

/// The lines `canopy admin resync` prints: one per thread, then the total.
fn resync_text(url: &url::Url, report: &canopy_api::routes::admin::ResyncReport) -> String {
    let mut out = String::new();
    for t in &report.threads {
        let _ = writeln!(
            out,
            "post {}: source={} listed={} added_posts={} added_comments={} updated={} deleted={} \
             known={} failed={} requests={} elapsed_ms={}{}{}",
            t.post_id,
            t.source,
            t.listed,
            t.posts_added,
            t.comments_added,
            t.updated,
            t.deleted,
            t.known,
            t.failed,
            t.requests,
            t.elapsed_ms,
            t.remote_comments
                .map(|c| format!(" remote_comments={c}"))
                .unwrap_or_default(),
            t.stopped
                .as_deref()
                .map(|s| format!(" stopped_by={s}"))
                .unwrap_or_default(),
        );
    }
    let _ = writeln!(
        out,
        "resync {url}: {} thread(s), added {}",
        report.threads.len(),
        report.added
    );
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn instance(authority: &str, pending: i64, error: Option<&str>) -> InstanceQueue {
        InstanceQueue {
            authority: authority.into(),
            state: if error.is_some() { "unreachable" } else { "ok" }.into(),
            pending,
            oldest_pending_at: None,
            oldest_pending_age_secs: (pending > 0).then_some(3725),
            succeeded: 12,
            failed: 3,
            last_error: error.map(String::from),
            last_success_at: None,
            last_failure_at: None,
            failing_since: error.map(|_| DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
            next_probe_at: None,
        }
    }

    #[test]
    fn table_has_a_header_a_line_per_instance_and_a_summary() {
        let report = QueueReport {
            pending: 5,
            instances: vec![
                instance(
                    "down.example",
                    5,
                    Some("503 Service Unavailable: busy\nmore"),
                ),
                instance("up.example:8443", 0, None),
            ],
        };
        let text = table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("INSTANCE"), "{text}");
        assert!(lines[0].ends_with("LAST ERROR"), "{text}");
        assert!(lines[1].starts_with("down.example "), "{text}");
        assert!(lines[1].contains("unreachable"), "{text}");
        assert!(lines[1].contains("1h 2m"), "{text}");
        assert!(lines[1].contains("2027-01-15 08:00:00Z"), "{text}");
        assert!(
            lines[1].ends_with("503 Service Unavailable: busy…"),
            "{text}"
        );
        assert!(lines[2].starts_with("up.example:8443 "), "{text}");
        // Columns line up: the state column starts at the same place on every line.
        let col = lines[0].find("STATE").unwrap();
        assert_eq!(lines[1].find("unreachable"), Some(col), "{text}");
        assert_eq!(lines[2].find("ok"), Some(col), "{text}");
        assert_eq!(
            lines[3],
            "5 pending deliveries; 2 instances, 1 unreachable."
        );
    }

    #[test]
    fn an_empty_queue_says_so() {
        let report = QueueReport {
            pending: 0,
            instances: vec![],
        };
        assert_eq!(table(&report), "No deliveries queued or made yet.\n");
    }

    #[test]
    fn ages_show_the_two_largest_units() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(45), "45s");
        assert_eq!(age(725), "12m 5s");
        assert_eq!(age(3600), "1h");
        assert_eq!(age(12_000), "3h 20m");
        assert_eq!(age(187_200), "2d 4h");
    }
}
