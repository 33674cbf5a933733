//! The layout tells the architecture: no import circles between the files of the server or of
//! the dashboard, no module importing from a layer above its own or from another module of its
//! layer, no server file over 600 lines.
//!
//! An import is any `crate::…` or `super::…` path a file names outside its tests (in `use`,
//! `pub use` or in code), resolved to the file that defines the module it reaches; an item of the
//! crate's root file reaches that file. A module's `self::…` re-exports of its children and its
//! `mod` declarations are not imports.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The server's layers, lowest first: a module imports from the layers below and from itself.
const SERVER_LAYERS: &[&[&str]] = &[
    &["domain", "telegram", "telemetry"],
    &["config", "db"],
    &["services"],
    &["jobs", "graphql"],
    &["http"],
    &["startup"],
    &["lib"],
    &["cli"],
    &["main"],
];

/// The dashboard's layers, lowest first.
const DASHBOARD_LAYERS: &[&[&str]] = &[
    &["charts", "format", "session", "state"],
    &["api", "export"],
    &["convert", "live"],
    &["context"],
    &["keys", "overview", "people", "sessions", "teachers"],
    &["lesson", "not_opened"],
    &["app"],
    &["main"],
];

const MAX_SERVER_FILE_LINES: usize = 600;

/// A crate's files by module path (`services::tracker` for `services/tracker/mod.rs`).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
        for entry in fs::read_dir(dir).expect("a source folder").flatten() {
            let path = entry.path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let mut module = prefix.to_vec();
            if path.is_dir() {
                module.push(name);
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if name != "mod" {
                    module.push(name);
                }
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// Every path a `use` statement names, its brace groups expanded and its renames dropped.
fn expand(tree: &str) -> Vec<String> {
    let mut words = tree.split_whitespace();
    let mut tree = String::new();
    while let Some(word) = words.next() {
        if word == "as" {
            // `a as b,`: keep what follows the new name (`,` or `}`).
            let renamed = words.next().unwrap_or_default();
            tree.extend(renamed.chars().filter(|c| matches!(c, ',' | '}')));
        } else {
            tree.push_str(word);
        }
    }
    expand_groups(&tree)
}

fn expand_groups(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let (prefix, rest) = (&tree[..open], &tree[open + 1..tree.len() - 1]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rest[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(expand_groups)
        .map(|p| format!("{prefix}{p}"))
        .collect()
}

/// The paths a file imports outside its tests: its `use` statements and the `crate::`/`super::`
/// paths in its code.
fn imported_paths(source: &str) -> Vec<String> {
    let source = source
        .split("\n#[cfg(test)]\nmod ")
        .next()
        .unwrap_or_default();
    let mut paths = Vec::new();
    let mut code = String::new();
    let mut statement: Option<String> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        let starts_use = ["use ", "pub use ", "pub(crate) use "]
            .iter()
            .find_map(|start| trimmed.strip_prefix(start));
        match (&mut statement, starts_use) {
            (Some(open), _) => open.push_str(line),
            (None, Some(rest)) => statement = Some(rest.to_owned()),
            (None, None) => {
                code.push_str(line);
                code.push('\n');
            }
        }
        if let Some(done) = statement.take_if(|open| open.contains(';')) {
            paths.extend(expand(done.trim_end().trim_end_matches(';')));
        }
    }
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            let end = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            paths.push(code[at..end].trim_end_matches(':').to_owned());
            from = end;
        }
    }
    paths
}

/// The file an import of `path` from `module` reaches: the deepest module it names.
fn resolve(
    path: &str,
    module: &[String],
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segments = path.split("::").peekable();
    let mut base: Vec<String> = match segments.next() {
        Some("crate") => Vec::new(),
        // `super` of `a/b.rs` and of `a/b/mod.rs` is `a`.
        Some("super") => module[..module.len().saturating_sub(1)].to_vec(),
        _ => return None,
    };
    while segments.next_if_eq(&"super").is_some() {
        base.pop();
    }
    // An item of the crate's root file.
    let root = [vec!["lib".to_owned()], vec!["main".to_owned()]]
        .into_iter()
        .find(|root| files.contains_key(root));
    let mut found = if base.is_empty() {
        root
    } else {
        files.contains_key(&base).then(|| base.clone())
    };
    for segment in segments {
        base.push(segment.to_owned());
        if files.contains_key(&base) {
            found = Some(base.clone());
        }
    }
    found
}

/// Each file's imports of other files of the same crate.
fn graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = modules(src);
    let mut edges = BTreeMap::new();
    for (module, file) in &files {
        let source = fs::read_to_string(file).expect("a source file");
        let targets: BTreeSet<Vec<String>> = imported_paths(&source)
            .iter()
            .filter_map(|path| resolve(path, module, &files))
            .filter(|target| target != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// The import circles of a graph, each as the files on it.
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    fn reaches(
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        from: &Vec<String>,
        to: &Vec<String>,
        seen: &mut BTreeSet<Vec<String>>,
    ) -> bool {
        edges
            .get(from)
            .into_iter()
            .flatten()
            .any(|next| next == to || (seen.insert(next.clone()) && reaches(edges, next, to, seen)))
    }
    edges
        .iter()
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from, to)))
        .filter(|(from, to)| reaches(edges, to, from, &mut BTreeSet::new()))
        .map(|(from, to)| vec![from.join("::"), to.join("::")])
        .collect()
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

/// The imports that break the layers: into a higher layer, or into another module of the same
/// layer.
fn against_layers(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    layers: &[&[&str]],
) -> Vec<String> {
    let layer = |module: &[String]| {
        layers
            .iter()
            .position(|names| names.contains(&module[0].as_str()))
            .unwrap_or_else(|| panic!("{} is in no layer", module.join("::")))
    };
    edges
        .iter()
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from, to)))
        .filter(|(from, to)| match layer(to).cmp(&layer(from)) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => to[0] != from[0],
            std::cmp::Ordering::Greater => true,
        })
        .map(|(from, to)| format!("{} -> {}", from.join("::"), to.join("::")))
        .collect()
}

fn module(path: &str) -> Vec<String> {
    path.split("::").map(str::to_owned).collect()
}

/// Reads a crate's imports (checking that `known` arrows are read at all), then asserts it has no
/// circle and no import against `layers`.
fn assert_layered(name: &str, layers: &[&[&str]], known: &[(&str, &str)]) {
    let edges = graph(&crate_src(name));
    for (from, to) in known {
        assert!(
            edges[&module(from)].contains(&module(to)),
            "{from} -> {to} is read"
        );
    }
    assert_eq!(circles(&edges), Vec::<Vec<String>>::new(), "import circles");
    assert_eq!(
        against_layers(&edges, layers),
        Vec::<String>::new(),
        "imports against the layers"
    );
}

#[test]
fn the_server_has_no_import_circles_and_imports_only_downward() {
    assert_layered(
        "server",
        SERVER_LAYERS,
        &[
            ("http::tracking", "services::tracker"),
            ("http::subscriptions", "services::auth"),
            ("services::tracker::session", "services::tracker"),
        ],
    );
}

#[test]
fn the_dashboard_has_no_import_circles_and_imports_only_downward() {
    assert_layered(
        "admin-ui",
        DASHBOARD_LAYERS,
        &[
            ("sessions", "context"),
            ("app", "overview"),
            ("live", "api"),
        ],
    );
}

#[test]
fn no_server_file_is_over_600_lines() {
    let long: Vec<String> = modules(&crate_src("server"))
        .into_values()
        .filter_map(|file| {
            let lines = fs::read_to_string(&file).ok()?.lines().count();
            (lines > MAX_SERVER_FILE_LINES).then(|| format!("{}: {lines}", file.display()))
        })
        .collect();
    assert_eq!(long, Vec::<String>::new());
}

#[test]
fn imports_circles_and_layer_breaks_are_found() {
    assert_eq!(
        expand("crate::{a::{b, c as d}, e as f}"),
        ["crate::a::b", "crate::a::c", "crate::e"]
    );
    let source = "//! Says use of it, because\nuse crate::{\n    a::b,\n    c,\n};\npub use super::d;\n\
                  fn f() { crate::e::g(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n";
    assert_eq!(
        imported_paths(source),
        ["crate::a::b", "crate::c", "super::d", "crate::e::g"]
    );
    let edges = BTreeMap::from([
        (module("a"), BTreeSet::from([module("b")])),
        (module("b"), BTreeSet::from([module("c")])),
        (module("c"), BTreeSet::from([module("a")])),
        (module("d"), BTreeSet::from([module("a")])),
    ]);
    assert_eq!(
        circles(&edges).len(),
        3,
        "the three arrows of a -> b -> c -> a"
    );
    let layers: &[&[&str]] = &[&["a"], &["b", "c"], &["d"]];
    assert_eq!(against_layers(&edges, layers), ["a -> b", "b -> c"]);
}
