//! `lookout devices`: the GPU adapters wgpu can use, with what the engine cares about.

use std::process::ExitCode;

use lookout::infer::gpu::{AdapterSummary, list_adapters};

/// Arguments of `lookout devices`.
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (one array of adapters) instead of a table.
    #[arg(long)]
    json: bool,
}

/// One adapter as printed: the summary plus whether it is a software implementation.
#[derive(serde::Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    adapter: &'a AdapterSummary,
    software: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let adapters = list_adapters();
    let rows: Vec<Row<'_>> = adapters
        .iter()
        .map(|a| Row {
            adapter: a,
            software: a.is_software(),
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no GPU adapters found (install a Vulkan, Metal, DX12 or GL driver)")?;
        return Ok(ExitCode::SUCCESS);
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let a = r.adapter;
            let driver = match (a.driver.is_empty(), a.driver_info.is_empty()) {
                (false, false) => format!("{} {}", a.driver, a.driver_info),
                (false, true) => a.driver.clone(),
                _ => a.driver_info.clone(),
            };
            [
                a.name.clone(),
                a.backend.clone(),
                a.device_type.clone(),
                driver,
                yes(a.f16).into(),
                yes(a.timestamps).into(),
                yes(r.software).into(),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "BACKEND",
        "TYPE",
        "DRIVER",
        "F16",
        "TIMESTAMPS",
        "SOFTWARE",
    ];
    let mut widths = header.map(str::len);
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    outln!("{}", line(&header.map(String::from)))?;
    for row in &table {
        outln!("{}", line(row))?;
    }
    Ok(ExitCode::SUCCESS)
}
