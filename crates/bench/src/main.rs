//! `canopy-bench`: benchmarks that drive a Canopy node through its HTTP API against a real
//! PostgreSQL. They print figures and ratios against a baseline measured in the same run; they
//! are not tests and assert nothing about time. Run them through `scripts/bench`, which provides
//! a throwaway PostgreSQL cluster.
#![allow(
    clippy::print_stdout,
    reason = "a benchmark's output is its figures, on stdout"
)]

mod backfill;
mod delivery;
mod inbox;
mod listing;
mod node;
mod process;
mod receiver;
mod shape;
mod standin;
mod stats;
mod thread_html;
mod tree;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "canopy-bench", about = "Canopy benchmarks (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Comment-tree pages at 2,000, 10,000 and 50,000 comments.
    Tree(tree::Args),
    /// Signed Create(Note) replies from remote actors posted to the shared inbox.
    Inbox(inbox::Args),
    /// The front page and search at 100,000 posts and 500,000 comments.
    Listing(listing::Args),
    /// One node copying a 5,000-comment thread from another (resync of its URL).
    Backfill(backfill::Args),
    /// The delivery worker: fan-out, a far instance, signing, and a backlog.
    Delivery(delivery::Args),
    /// The loopback inboxes of `delivery`, in their own process (started by `delivery`).
    #[command(hide = true)]
    DeliveryReceiver(receiver::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Tree(args) => tree::run(args).await,
        Command::Inbox(args) => inbox::run(args).await,
        Command::Delivery(args) => delivery::run(args).await,
        Command::Backfill(args) => backfill::run(args).await,
        Command::Listing(args) => listing::run(args).await,
        Command::DeliveryReceiver(args) => receiver::run(args).await,
    }
}
