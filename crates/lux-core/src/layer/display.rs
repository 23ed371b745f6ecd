//! Lux-style model printing with parameter counts (Lux's `PrettyPrinting`).

use super::{Children, Layer};
use std::fmt;

/// Prints a model as Lux does: containers as `Name(` … `)` with their
/// children indented by four spaces under their names, leaf layers on one
/// line each with `# N parameters` (and `, plus M non-trainable` when they
/// have state) aligned in a column, consecutive identical layers with
/// consecutive names grouped (`layer_(1-3) = Dense(2 => 2),  # 18 (6 x 3)
/// parameters`), and a total for the whole model. Counts use `_` as the
/// thousands separator. A wrapper's child is shown under the name `layer`.
/// A leaf layer at the top prints as its one-line form only.
///
/// ```
/// use lux_core::{display_model, tree, Children, DType, Layer, Result, Tensor, Tree};
///
/// struct Dense { inp: usize, out: usize }
/// impl Layer for Dense {
///     fn init_params(&self, _: &mut dyn rand::Rng) -> Result<Tree> {
///         Ok(tree! { weight: Tensor::zeros(&[self.out, self.inp], DType::F32)?, bias: Tensor::zeros(&[self.out], DType::F32)? })
///     }
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
///     fn describe(&self) -> String { format!("Dense({} => {})", self.inp, self.out) }
/// }
/// struct Chain(Vec<Dense>);
/// impl Layer for Chain {
///     fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> Result<(Tree, Tree)> { Ok((x.clone(), st.clone())) }
///     fn children(&self) -> Children<'_> {
///         Children::Named(self.0.iter().enumerate().map(|(i, l)| (format!("layer_{}", i + 1), l as &dyn Layer)).collect())
///     }
/// }
///
/// let model = Chain(vec![Dense { inp: 2, out: 16 }, Dense { inp: 16, out: 1 }]);
/// assert_eq!(display_model(&model), "\
/// Chain(
///     layer_1 = Dense(2 => 16),                     # 48 parameters
///     layer_2 = Dense(16 => 1),                     # 17 parameters
/// )         # Total: 65 parameters,\n          #        plus 0 states.");
/// ```
pub fn display_model(layer: &dyn Layer) -> String {
    let mut out = String::new();
    big_show(&mut out, layer, 0, None, 1);
    out
}

/// `Display` for a model, printing as [`display_model`] does:
/// `println!("{}", ModelDisplay(&model))`.
#[derive(Clone, Copy)]
pub struct ModelDisplay<'a>(pub &'a dyn Layer);

impl fmt::Display for ModelDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&display_model(self.0))
    }
}

/// The children printed under a layer.
fn printable_children(layer: &dyn Layer) -> Vec<(String, &dyn Layer)> {
    if let Some(children) = layer.printable_children() {
        return children;
    }
    match layer.children() {
        Children::None => Vec::new(),
        Children::Named(children) => children,
        Children::Wrapped(inner) => vec![("layer".to_string(), inner)],
    }
}

fn big_show(out: &mut String, layer: &dyn Layer, indent: usize, name: Option<&str>, multiplier: usize) {
    let children = printable_children(layer);
    if children.is_empty() {
        layer_show(out, layer, indent, name, multiplier);
        return;
    }
    out.push_str(&" ".repeat(indent));
    if let Some(name) = name {
        out.push_str(&format!("{name} = "));
    }
    out.push_str(&layer.display_name());
    out.push_str("(\n");

    // What a child prints as (without its name): consecutive children that
    // print the same and have consecutive names are shown once, as a range.
    let looks: Vec<String> = children
        .iter()
        .map(|(_, c)| {
            let mut s = String::new();
            big_show(&mut s, *c, indent + 4, None, 1);
            s
        })
        .collect();
    // A layer with its own close (Lux's `@compact`) lists its children one
    // by one, as Lux does.
    let group = layer.display_close().is_none();
    let mut i = 0;
    while i < children.len() {
        let (key, child) = &children[i];
        let (base, underscore, first) = parse_name(key);
        let mut j = i;
        if let Some(first) = first.filter(|_| group) {
            let mut last = first;
            while j + 1 < children.len() && looks[j + 1] == looks[i] {
                match parse_name(&children[j + 1].0) {
                    (b, u, Some(n)) if b == base && u == underscore && Some(n) == last.checked_add(1) => {
                        j += 1;
                        last = n;
                    }
                    _ => break,
                }
            }
            if j > i {
                let range = format!("{base}{}({first}-{last})", if underscore { "_" } else { "" });
                big_show(out, *child, indent + 4, Some(&range), (j - i + 1) * multiplier);
            }
        }
        if j == i {
            big_show(out, *child, indent + 4, Some(key), multiplier);
        }
        i = j + 1;
    }

    // The closing `)`, or the layer's own close (`) do x` … `end`).
    let close = layer.display_close().unwrap_or_else(|| ")".into());
    let close = close.replace('\n', &format!("\n{}", " ".repeat(indent)));
    out.push_str(&" ".repeat(indent));
    out.push_str(&close);
    if indent == 0 {
        let last = close.rsplit('\n').next().unwrap_or("").chars().count();
        big_finale(out, layer, 10usize.saturating_sub(last).max(1));
    } else {
        out.push_str(",\n");
    }
}

/// The totals, the first line's `#` after `pad` spaces (column 10 after a `)`).
fn big_finale(out: &mut String, layer: &dyn Layer, pad: usize) {
    out.push_str(&format!(
        "{}# Total: {} parameters,\n{}#        plus {} states.",
        " ".repeat(pad),
        underscorise(layer.param_count()),
        " ".repeat(10),
        underscorise(layer.state_count())
    ));
}

fn layer_show(out: &mut String, layer: &dyn Layer, indent: usize, name: Option<&str>, multiplier: usize) {
    let s = match name {
        Some(name) => format!("{name} = {}", layer.describe()),
        None => layer.describe(),
    };
    out.push_str(&" ".repeat(indent));
    out.push_str(&s);
    if indent > 0 {
        out.push(',');
    }
    let params = layer.param_count();
    if params > 0 {
        let column: usize = if indent == 0 { 29 } else { 49 };
        let pad = column.saturating_sub(indent + s.chars().count()).max(2);
        out.push_str(&" ".repeat(pad));
        out.push_str(&format!("# {} parameters", multiply_count(params, multiplier)));
        let states = layer.state_count();
        if states > 0 {
            out.push_str(&format!(", plus {} non-trainable", multiply_count(states, multiplier)));
        }
    }
    if indent > 0 {
        out.push('\n');
    }
}

fn multiply_count(count: usize, multiplier: usize) -> String {
    if multiplier == 1 {
        underscorise(count)
    } else {
        format!("{} ({} x {multiplier})", underscorise(count.saturating_mul(multiplier)), underscorise(count))
    }
}

/// `49921` → `49_921`.
fn underscorise(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('_');
        }
        out.push(ch);
    }
    out
}

/// Splits a trailing number off a name: `layer_12` → (`layer`, true, 12),
/// `d3` → (`d`, false, 3), `encoder` → (`encoder`, false, none).
fn parse_name(name: &str) -> (&str, bool, Option<u64>) {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let Ok(n) = name[base.len()..].parse::<u64>() else { return (name, false, None) };
    match base.strip_suffix('_') {
        Some(b) => (b, true, Some(n)),
        None => (base, false, Some(n)),
    }
}

/// A float as Julia prints it, which is how Lux and Optimisers.jl show
/// hyper-parameters: the shortest round-trip digits, with a `.0` before an
/// exponent (`0.5`, `1.0`, `0.001`, `1.0e-8`).
///
/// ```
/// use lux_core::julia_float;
/// assert_eq!(julia_float(0.5), "0.5");
/// assert_eq!(julia_float(1.0), "1.0");
/// assert_eq!(julia_float(1e-8), "1.0e-8");
/// assert_eq!(julia_float(2.5e-5), "2.5e-5");
/// assert_eq!(julia_float(f64::INFINITY), "Inf");
/// ```
pub fn julia_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:?}");
    match s.split_once('e') {
        Some((m, e)) if !m.contains('.') => format!("{m}.0e{e}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_name, underscorise};

    #[test]
    fn underscorise_groups_thousands() {
        assert_eq!(underscorise(0), "0");
        assert_eq!(underscorise(999), "999");
        assert_eq!(underscorise(1000), "1_000");
        assert_eq!(underscorise(49_921), "49_921");
        assert_eq!(underscorise(1_234_567), "1_234_567");
    }

    #[test]
    fn parse_name_splits_suffix() {
        assert_eq!(parse_name("layer_12"), ("layer", true, Some(12)));
        assert_eq!(parse_name("d3"), ("d", false, Some(3)));
        assert_eq!(parse_name("encoder"), ("encoder", false, None));
        assert_eq!(parse_name("a_b_7"), ("a_b", true, Some(7)));
        assert_eq!(parse_name("12"), ("", false, Some(12)));
    }
}
