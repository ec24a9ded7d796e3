//! Bundles a configuration file at build time when `EDGEWARD_CONFIG_FILE`
//! names one (the `EDGEWARD_CONFIG` var still wins at run time).
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=EDGEWARD_CONFIG_FILE");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bundled_config.txt");
    let text = match env::var("EDGEWARD_CONFIG_FILE") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("EDGEWARD_CONFIG_FILE={path}: {e}"))
        }
        _ => String::new(),
    };
    fs::write(out, text).unwrap();
}
