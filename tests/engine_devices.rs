//! `lookout devices` through the real binary and the real adapters (lavapipe without a GPU).

mod common;

#[test]
fn devices_lists_adapters_as_json_and_table() {
    let v = common::lookout_json(&["devices", "--json"]);
    let list = v["adapters"].as_array().expect("an array of adapters");
    assert!(!list.is_empty(), "at least one adapter (lavapipe in CI)");
    for a in list {
        for key in [
            "name",
            "backend",
            "device_type",
            "driver",
            "driver_info",
            "f16",
            "timestamps",
            "software",
        ] {
            assert!(a.get(key).is_some(), "missing {key} in {a}");
        }
    }
    let text = common::lookout_ok(&["devices"]);
    assert!(text.starts_with("NAME"), "{text}");
    let first = list[0]["name"].as_str().unwrap();
    assert!(text.contains(first), "{text}");
    // The CPU engines follow, in the order `backend: cpu` prefers them.
    let engines: Vec<&str> = v["cpu_engines"]
        .as_array()
        .expect("an array of CPU engines")
        .iter()
        .map(|e| e["engine"].as_str().unwrap())
        .collect();
    assert_eq!(engines, ["onnxruntime", "opencv"]);
    assert!(text.contains("\nCPU ENGINE"), "{text}");
}

#[test]
fn adapters_are_chosen_by_name_or_power_preference() {
    use lookout::infer::gpu::{AdapterChoice, GpuContext, list_adapters};
    let adapters = list_adapters();
    let first = &adapters.first().expect("an adapter").name;
    let ctx =
        GpuContext::new(&AdapterChoice::Named(first.to_uppercase())).expect("named adapter opens");
    assert_eq!(&ctx.summary().name, first);
    assert_eq!(ctx.is_software(), ctx.summary().is_software());
    let e = GpuContext::new(&AdapterChoice::Named("no such gpu 9000".into())).unwrap_err();
    assert!(e.to_string().contains("no adapter named like"), "{e}");
    GpuContext::new(&AdapterChoice::LowPower).expect("low-power adapter opens");
}
