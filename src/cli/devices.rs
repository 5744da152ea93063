//! `lookout devices`: the GPU adapters wgpu can use, with what the engine cares about, and the CPU
//! inference engines found (ONNX Runtime's library, OpenCV).

use std::process::ExitCode;

use lookout::infer::gpu::{AdapterSummary, list_adapters};
use lookout::model::select::{CpuEngine, cpu_engines};

/// Arguments of `lookout devices`.
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (`{"adapters": [...], "cpu_engines": [...]}`) instead of tables.
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

/// Everything `--json` prints.
#[derive(serde::Serialize)]
struct Devices<'a> {
    adapters: Vec<Row<'a>>,
    cpu_engines: Vec<CpuEngine>,
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
    let engines = cpu_engines();
    if args.json {
        let all = Devices {
            adapters: rows,
            cpu_engines: engines,
        };
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no GPU adapters found (install a Vulkan, Metal, DX12 or GL driver)")?;
    } else {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let a = r.adapter;
                let driver = match (a.driver.is_empty(), a.driver_info.is_empty()) {
                    (false, false) => format!("{} {}", a.driver, a.driver_info),
                    (false, true) => a.driver.clone(),
                    _ => a.driver_info.clone(),
                };
                vec![
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
        print_table(
            &[
                "NAME",
                "BACKEND",
                "TYPE",
                "DRIVER",
                "F16",
                "TIMESTAMPS",
                "SOFTWARE",
            ],
            &table,
        )?;
    }
    outln!()?;
    let table: Vec<Vec<String>> = engines
        .iter()
        .map(|e| {
            let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            vec![
                e.engine.to_string(),
                or_dash(&e.version),
                if e.providers.is_empty() {
                    "-".into()
                } else {
                    e.providers.join(",")
                },
                if e.available {
                    or_dash(&e.location)
                } else {
                    format!("not available: {}", or_dash(&e.reason))
                },
            ]
        })
        .collect();
    print_table(&["CPU ENGINE", "VERSION", "PROVIDERS", "FOUND"], &table)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `rows` under `header`, each column as wide as its widest cell.
fn print_table(header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    outln!(
        "{}",
        line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>())
    )?;
    for row in rows {
        outln!("{}", line(row))?;
    }
    Ok(())
}
