//! A released migration never changes: SeaORM records a migration by name once it ran, so an
//! edit would reach only the databases made after it. `checksums.txt` holds the SHA-256 of each
//! migration file in `src/` as released (`lib.rs` and `main.rs` list and run them).

use std::{collections::BTreeMap, fs, path::Path};

use sha2::{Digest, Sha256};

/// File name to SHA-256 in hex.
type Sums = BTreeMap<String, String>;

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `checksums.txt`: `#` comments and `<sha256>  <file name>` lines.
fn listed(text: &str) -> Result<Sums, String> {
    let mut sums = Sums::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((hash, name)) = line.split_once(char::is_whitespace) else {
            return Err(format!("checksums.txt: not `<sha256>  <file>`: {line}"));
        };
        let name = name.trim_start().trim_start_matches('*');
        if sums.insert(name.to_owned(), hash.to_owned()).is_some() {
            return Err(format!("checksums.txt lists {name} twice"));
        }
    }
    Ok(sums)
}

fn on_disk(src: &Path) -> Sums {
    fs::read_dir(src)
        .expect("migration/src is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let bytes = fs::read(&path).expect("a migration file is readable");
            (name != "lib.rs" && name != "main.rs").then(|| (name, sha256(&bytes)))
        })
        .collect()
}

fn problems(listed: &Sums, on_disk: &Sums) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, hash) in listed {
        match on_disk.get(name) {
            None => problems.push(format!(
                "migration {name} was removed after it was released: databases that ran it \
                 record its name, and SeaORM migrates none of them without its file. Put it back \
                 (git checkout main -- migration/src/{name})."
            )),
            Some(now) if now != hash => problems.push(format!(
                "migration {name} changed after it was released: add a new migration instead \
                 (put this one back with git checkout main -- migration/src/{name})."
            )),
            Some(_) => {}
        }
    }
    for (name, hash) in on_disk {
        if !listed.contains_key(name) {
            problems.push(format!(
                "migration {name} has no checksum: once it is final, add the line\n    \
                 {hash}  {name}\nto migration/checksums.txt \
                 (cd migration/src && sha256sum {name} >> ../checksums.txt)."
            ));
        }
    }
    problems
}

#[test]
fn every_migration_is_as_released() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(dir.join("checksums.txt")).expect("checksums.txt is readable");
    let listed = listed(&text).unwrap_or_else(|err| panic!("{err}"));
    let problems = problems(&listed, &on_disk(&dir.join("src")));
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n\n"));
}

#[test]
fn a_changed_removed_or_new_migration_is_named_with_what_to_do() {
    let sums = |pairs: &[(&str, &str)]| -> Sums {
        pairs
            .iter()
            .map(|(name, hash)| (name.to_string(), hash.to_string()))
            .collect()
    };
    let listed = sums(&[
        ("m1_kept.rs", "aa"),
        ("m2_edited.rs", "bb"),
        ("m3_gone.rs", "cc"),
    ]);
    let on_disk = sums(&[
        ("m1_kept.rs", "aa"),
        ("m2_edited.rs", "b2"),
        ("m4_new.rs", "dd"),
    ]);
    let problems = problems(&listed, &on_disk);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with(
        "migration m2_edited.rs changed after it was released: add a new migration instead"
    ));
    assert!(problems[1].starts_with("migration m3_gone.rs was removed after it was released"));
    assert!(problems[2].contains("add the line\n    dd  m4_new.rs\nto migration/checksums.txt"));
}

#[test]
fn the_list_reads_sha256sum_lines_and_refuses_a_name_twice() {
    let text = "# comment\nab  m1.rs\ncd *m2.rs\n\n";
    let sums = listed(text).expect("two lines");
    assert_eq!(sums.get("m1.rs").map(String::as_str), Some("ab"));
    assert_eq!(sums.get("m2.rs").map(String::as_str), Some("cd"));
    assert!(listed("ab  m1.rs\ncd  m1.rs\n").is_err());
    assert!(listed("just-one-word\n").is_err());
    assert_eq!(
        sha256(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
