//! The gateway crate's modules form no cycle: for every module, the sibling modules its items
//! use (through `crate::` and `super::` paths) never lead back to it. Checked from the sources
//! so that a new `use` that closes a loop fails here, not in a later review.
//!
//! A reference from `a::x` to `b::y` counts as an edge `a -> b` between the siblings `a` and `b`
//! under their common parent; a child using its parent (or the reverse) is not an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

fn module_of(rel: &Path) -> Option<ModPath> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let file = parts.pop()?;
    match file.as_str() {
        "lib.rs" if parts.is_empty() => Some(vec![]),
        "main.rs" if parts.is_empty() => None,
        "mod.rs" => Some(parts),
        f => {
            parts.push(f.strip_suffix(".rs")?.to_string());
            Some(parts)
        }
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its comments (doc links are not dependencies).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path written after `prefix` (`crate::`, `super::`), with `{a, b::c}` groups expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        expand(rest, Vec::new(), &mut out);
    }
    out
}

fn expand(text: &str, base: Vec<String>, out: &mut Vec<Vec<String>>) {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&group[start..i], base.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&group[start..i], base.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let ident: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        if !base.is_empty() {
            out.push(base);
        }
        return;
    }
    let mut path = base;
    path.push(ident.clone());
    match text[ident.len()..].strip_prefix("::") {
        Some(more) => expand(more, path, out),
        None => out.push(path),
    }
}

fn edges(root: &Path) -> BTreeMap<ModPath, BTreeSet<(String, String)>> {
    let mut files = Vec::new();
    sources(root, &mut files);
    let mut modules = BTreeMap::new();
    for f in &files {
        if let Some(m) = f.strip_prefix(root).ok().and_then(module_of) {
            modules.insert(m, f.clone());
        }
    }
    let resolve = |path: &[String]| -> ModPath {
        let mut best = Vec::new();
        for n in 1..=path.len() {
            if modules.contains_key(&path[..n]) {
                best = path[..n].to_vec();
            }
        }
        best
    };
    let mut graph: BTreeMap<ModPath, BTreeSet<(String, String)>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = code(&std::fs::read_to_string(f).unwrap_or_default());
        let parent: ModPath = m.iter().take(m.len().saturating_sub(1)).cloned().collect();
        let mut targets: Vec<ModPath> = paths_after(&text, "crate::")
            .iter()
            .map(|p| resolve(p))
            .collect();
        for mut p in paths_after(&text, "super::") {
            let mut full = parent.clone();
            while p.first().is_some_and(|s| s == "super") {
                full.pop();
                p.remove(0);
            }
            full.extend(p);
            targets.push(resolve(&full));
        }
        for t in targets {
            let common = m.iter().zip(&t).take_while(|(a, b)| a == b).count();
            if common < m.len() && common < t.len() {
                graph
                    .entry(m[..common].to_vec())
                    .or_default()
                    .insert((m[common].clone(), t[common].clone()));
            }
        }
    }
    graph
}

fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    fn visit<'a>(
        n: &'a str,
        edges: &'a BTreeSet<(String, String)>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut cycle: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        for (_, to) in edges.iter().filter(|(from, _)| from == n) {
            if let Some(c) = visit(to, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for (from, _) in edges {
        if let Some(c) = visit(from, edges, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_gateway_crate_has_no_module_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = edges(&root);
    assert!(
        graph.get(&Vec::new()).is_some_and(|e| !e.is_empty()),
        "found no dependencies between the crate's top-level modules: the scan is broken"
    );
    let cycles: Vec<String> = graph
        .iter()
        .filter_map(|(parent, e)| {
            let c = find_cycle(e)?;
            Some(format!(
                "in crate::{}: {}",
                parent.join("::"),
                c.join(" -> ")
            ))
        })
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_scan_sees_a_cycle_when_there_is_one() {
    let mut e = BTreeSet::new();
    e.insert(("a".to_string(), "b".to_string()));
    e.insert(("b".to_string(), "c".to_string()));
    assert_eq!(find_cycle(&e), None);
    e.insert(("c".to_string(), "a".to_string()));
    assert_eq!(
        find_cycle(&e),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let paths = paths_after("use crate::{x::{y, z::W}, v};", "crate::");
    assert_eq!(
        paths,
        vec![
            vec!["x".to_string(), "y".to_string()],
            vec!["x".to_string(), "z".to_string(), "W".to_string()],
            vec!["v".to_string()],
        ]
    );
}
