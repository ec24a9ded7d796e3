//! Bundles a configuration file at build time when `EDGEWARD_CONFIG_FILE`
//! names one (the `EDGEWARD_CONFIG` var still wins at run time). A TOML file
//! is turned into JSON here, so the Worker needs no TOML parser for it.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=EDGEWARD_CONFIG_FILE");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bundled_config.txt");
    let text = match env::var("EDGEWARD_CONFIG_FILE") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("EDGEWARD_CONFIG_FILE={path}: {e}"));
            if text.trim_start().starts_with('{') {
                text
            } else {
                let v: serde_json::Value = toml::from_str(&text)
                    .unwrap_or_else(|e| panic!("EDGEWARD_CONFIG_FILE={path}: TOML: {e}"));
                v.to_string()
            }
        }
        _ => String::new(),
    };
    fs::write(out, text).unwrap();
}
