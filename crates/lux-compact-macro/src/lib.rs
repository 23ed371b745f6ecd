//! The `compact!` proc-macro of lux-rs (Lux.jl's `@compact`). Use it as
//! `lux::compact!`: its documentation, the classification of values and
//! the semantics are there. Generated code names lux items only through
//! `::lux::__private::compact`, never through the caller's imports.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprClosure, Ident, Pat, Token, Type};

/// Builds a layer from named values and a forward body (Lux's `@compact`).
///
/// ```text
/// compact!(name1 = value1, name2 = value2, …, [name = "…",] [dispatch = Marker,] |x| body)
/// compact!(|x, p| body, name1 = value1, …)     // the function may come first; `;` works as `,`
/// ```
///
/// Each value is classified once, when the layer is built (Lux's rule read
/// through Rust's types): an `impl Layer` is a **sublayer**, called in the
/// body through a [`StatefulLayer`](../lux/struct.StatefulLayer.html) (`w1.call(x)?`,
/// `w1.call_tensor(x)?`); a `Vec`/array of layers gives numbered sublayers
/// `"1"`, `"2"`, … (a slice in the body); a `Tensor` (or a `Vec`/array/pair
/// of tensors) is a **parameter**, bound as `&Tensor`; `init_fn(|rng| …)` is
/// a parameter drawn from the `setup` rng (`init_fn(|rng| …, state)`: a
/// state); `non_trainable(v)` and the values a [`Tree`](../lux/core/struct.Tree.html)
/// holds (`i64`, `f64`, `bool`, `Tree`, `RngState`) are **state**, bound by
/// value — reassigning one in the body persists into the returned state;
/// anything else (closures, functions, configs) is a **constant** kept in
/// the layer and bound as `&T`. A tuple mixing layers and non-layers is a
/// compile error (Lux's message). Reassigning a parameter does not persist.
///
/// The body sees every name; with a second closure argument it also gets
/// the whole `ps` (`&Tree`). Its input is `&Tree` unless typed
/// (`|x: &Tensor|`, `|(x, y): (&Tensor, f64)|`, see `lux::FromInput`). The
/// body is a `Result<T>` with `T: Into<Tree>` (most tensor ops already
/// return `Result`, so the last expression is often just `w.mul(x)`); `?`
/// and `return` work as in a closure, several returns included.
///
/// `name = "…"` collapses printing to `Name  # N parameters`;
/// `dispatch = Marker` makes the layer a `CompactLayer<Marker, _, _>`, for
/// users' own trait impls. The layer implements `Layer` fully: `setup`
/// gives sublayers' trees first, then the values', as Lux. Printing follows
/// Lux's `@compact(` … `) do x` … `end` form, with the body's source text.
///
/// Lux's examples, with the same numbers (batch-first: Lux's `W * x` on a
/// `(features, batch)` matrix is `x · Wᵀ` on a `[batch, features]` one).
/// A linear model:
///
/// ```
/// use lux::prelude::*;
/// let r = compact!(w = Tensor::ones(&[3], DType::F32)?, |x: &Tensor| w.mul(x));
/// assert_eq!(display_model(&r), "\
/// compact!(
///     w = f32[3],
/// ) do x
///     w.mul(x)
/// end       # Total: 3 parameters,\n          #        plus 0 states.");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &r)?;
/// let (y, st) = apply_tensor(&r, Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?, &ps, &st)?;
/// assert_eq!((y.to_vec::<f32>()?, st), (vec![1.0, 2.0, 3.0], Tree::new()));
/// # Ok::<(), lux::Error>(())
/// ```
///
/// A linear model with bias and activation, equal to a `Dense(5 => 3, relu)`
/// with the same weights:
///
/// ```
/// use lux::prelude::*;
/// let (d_in, d_out) = (5, 3);
/// let d = compact!(
///     w = Tensor::ones(&[d_out, d_in], DType::F32)?,
///     b = Tensor::zeros(&[d_out], DType::F32)?,
///     act = Activation::Relu,
///     |x: &Tensor| {
///         let y = x.matmul(&w.transpose(0, 1)?)?;
///         act.call_tensor(y.add(b)?)
///     }
/// );
/// assert_eq!(d.param_count(), 18);
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &d)?;
/// let (y, _) = apply_tensor(&d, Tensor::ones(&[2, 5], DType::F32)?, &ps, &st)?;
/// assert_eq!((y.shape(), y.to_vec::<f32>()?), (&[2, 3][..], vec![5.0; 6])); // a 2×3 output of fives
///
/// let dense = Dense::new(d_in, d_out, Activation::Relu)?;
/// let ps_dense = tree! { weight: ps.tensor("w")?.clone(), bias: ps.tensor("b")?.clone() };
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0], &[1, 5])?;
/// assert_eq!(apply_tensor(&d, &x, &ps, &st)?.0, apply_tensor(&dense, &x, &ps_dense, &Tree::new())?.0);
/// # Ok::<(), lux::Error>(())
/// ```
///
/// A 3-hidden-layer relu MLP, trained on `y = 2x − x³` with Adam for 1000
/// steps like any layer:
///
/// ```
/// use lux::prelude::*;
/// let (n_in, n_out, nlayers) = (1, 1, 3);
/// let model = compact!(
///     w1 = Dense::new(n_in, 128, Activation::Identity)?,
///     w2 = (0..nlayers).map(|_| Dense::new(128, 128, Activation::Identity)).collect::<Result<Vec<_>>>()?,
///     w3 = Dense::new(128, n_out, Activation::Identity)?,
///     act = Activation::Relu,
///     |x| {
///         let mut embed = act.call(w1.call(x)?)?;
///         for w in w2 {
///             embed = act.call(w.call(&embed)?)?;
///         }
///         w3.call(&embed)
///     }
/// );
/// assert_eq!(display_model(&model), "\
/// compact!(
///     w1 = Dense(1 => 128),                         # 256 parameters
///     w2 = NamedTuple(
///         (1-3) = Dense(128 => 128),                # 49_536 (16_512 x 3) parameters
///     ),
///     w3 = Dense(128 => 1),                         # 129 parameters
///     act = WrappedFunction(relu),
/// ) do x
///     let mut embed = act.call(w1.call(x)?)?;
///     for w in w2 {
///         embed = act.call(w.call(&embed)?)?;
///     }
///     w3.call(&embed)
/// end       # Total: 49_921 parameters,\n          #        plus 0 states.");
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let x = Tensor::randn(&mut RngState::seed_from_u64(1), &[32, n_in], DType::F32)?;
/// assert_eq!(apply_tensor(&model, &x, &ps, &st)?.0.shape(), &[32, 1]); // a 32×1 output
///
/// let xs: Vec<f32> = (0..=40).map(|i| -2.0 + 0.1 * i as f32).collect();
/// let x_data = Tensor::from_vec(xs.clone(), &[41, 1])?;
/// let y_data = Tensor::from_vec(xs.iter().map(|x| 2.0 * x - x.powi(3)).collect(), &[41, 1])?;
/// let sse = |ps: &Tree| -> Result<f32> {
///     apply_tensor(&model, &x_data, ps, &st)?.0.sub(&y_data)?.square()?.sum_all()?.to_scalar::<f32>()
/// };
/// let loss_initial = sse(&ps)?;
/// let mut ts = TrainState::new(model, ps, st.clone(), Adam::new(0.001))?;
/// let data = (x_data.clone(), y_data.clone());
/// for _epoch in 0..1000 {
///     single_train_step_mut(&AutoTape, &MSELoss::default(), &data, &mut ts, false)?;
/// }
/// let loss_final = apply_tensor(ts.model(), &x_data, ts.parameters(), &st)?.0.sub(&y_data)?.square()?.sum_all()?.to_scalar::<f32>()?;
/// assert!(loss_initial > loss_final, "{loss_initial} → {loss_final}");
/// # Ok::<(), lux::Error>(())
/// ```
///
/// A name replaces the printed code:
///
/// ```
/// use lux::prelude::*;
/// let model = compact!(w = Tensor::rand(&mut RngState::seed_from_u64(0), &[3], DType::F32)?, name = "Linear(3 => 1)", |x: &Tensor| {
///     w.mul(x)?.sum_all()
/// });
/// assert_eq!(display_model(&model), "Linear(3 => 1)               # 3 parameters");
/// # Ok::<(), lux::Error>(())
/// ```
///
/// `init_fn` (Lux's `@init_fn`): `w` is a parameter and `b` a state, both
/// drawn from the `setup` rng (Lux's 3×2 `w` is `[3, 2]` here too: the
/// `[out, in]` layout of a `Dense` weight):
///
/// ```
/// use lux::prelude::*;
/// let r = compact!(
///     w = init_fn(|rng| Tensor::randn(rng, &[3, 2], DType::F32)),
///     b = init_fn(|rng| Tensor::randn(rng, &[3], DType::F32), state),
///     |x: &Tensor| x.matmul(&w.transpose(0, 1)?)?.add(&b)
/// );
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &r)?;
/// assert_eq!(ps.tensor("w")?.shape(), &[3, 2]);
/// assert_eq!(st.tensor("b")?.shape(), &[3]);
/// let (y, _) = apply_tensor(&r, Tensor::from_vec(vec![1.0f32, 2.0], &[2])?, &ps, &st)?;
/// assert_eq!(y.shape(), &[3]);
/// # Ok::<(), lux::Error>(())
/// ```
///
/// `non_trainable` (Lux's `@non_trainable`): `w_fixed` goes into the state,
/// and a call leaves it unchanged:
///
/// ```
/// use lux::prelude::*;
/// let r = compact!(
///     w = Tensor::ones(&[3], DType::F64)?,
///     w_fixed = non_trainable(Tensor::rand(&mut RngState::seed_from_u64(0), &[3], DType::F64)?),
///     |x: &Tensor| w.mul(x)?.add(&w_fixed)?.sum_all()
/// );
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &r)?;
/// assert_eq!(ps.tensor("w")?.shape(), &[3]);
/// assert_eq!(st.tensor("w_fixed")?.shape(), &[3]);
/// let (res, st_) = apply_tensor(&r, Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?, &ps, &st)?;
/// assert_eq!(st_.tensor("w_fixed")?, st.tensor("w_fixed")?);
/// assert_eq!(res.shape(), &[] as &[usize]); // a number
/// # Ok::<(), lux::Error>(())
/// ```
///
/// State reassigned in the body persists (Lux's `incr` example):
///
/// ```
/// use lux::prelude::*;
/// let model = compact!(incr = 1, |x: &Tensor| {
///     incr *= 10;
///     x.add_scalar(incr as f64)
/// });
/// let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model)?;
/// let x = Tensor::zeros(&[1], DType::F32)?;
/// let (_, st) = apply(&model, &x, &ps, &st)?;
/// assert_eq!(st.get("incr")?, &Tree::Int(10));
/// let (_, st) = apply(&model, &x, &ps, &st)?;
/// assert_eq!(st.get("incr")?, &Tree::Int(100));
/// # Ok::<(), lux::Error>(())
/// ```
///
/// Errors in the macro's input are compile errors at the offending token,
/// with Lux's messages ("expects an anonymous function", "expects only
/// keyword arguments", "expects keyword arguments", "expects at most 2
/// arguments", …).
#[proc_macro]
pub fn compact(input: TokenStream) -> TokenStream {
    match syn::parse::<Input>(input).and_then(expand) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The parsed arguments, in order.
struct Input {
    items: Vec<Expr>,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // `;` is accepted as a separator too (Lux's `@compact(a = 1; b = 2)`).
        let mut items = Vec::new();
        while !input.is_empty() {
            items.push(input.parse::<Expr>()?);
            if input.is_empty() {
                break;
            }
            if input.peek(Token![;]) {
                input.parse::<Token![;]>()?;
            } else {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(Input { items })
    }
}

/// How one value enters the layer.
enum ValueKind {
    /// Classified by its type.
    Auto(Expr),
    /// `non_trainable(v)`.
    NonTrainable(Expr),
    /// `init_fn(f)` / `init_fn(f, parameter)`.
    InitParam(Expr),
    /// `init_fn(f, state)`.
    InitState(Expr),
}

struct Keyword {
    name: Ident,
    kind: ValueKind,
}

fn err(span: Span, msg: &str) -> syn::Error {
    syn::Error::new(span, msg)
}

/// The name of a call like `init_fn(..)` when `e` is one.
fn call_name(e: &Expr) -> Option<(String, &Punctuated<Expr, Token![,]>)> {
    if let Expr::Call(call) = e
        && let Expr::Path(p) = &*call.func
        && let Some(id) = p.path.get_ident()
    {
        return Some((id.to_string(), &call.args));
    }
    None
}

fn classify(value: Expr) -> syn::Result<ValueKind> {
    match call_name(&value) {
        Some((name, args)) if name == "non_trainable" => {
            if args.len() != 1 {
                return Err(err(value.span(), "non_trainable expects exactly one value: `non_trainable(v)`"));
            }
            Ok(ValueKind::NonTrainable(args[0].clone()))
        }
        Some((name, args)) if name == "init_fn" => {
            if args.is_empty() || args.len() > 2 {
                return Err(err(
                    value.span(),
                    "init_fn expects a function of the rng and an optional kind: `init_fn(|rng| ..)` or `init_fn(|rng| .., state)`",
                ));
            }
            let f = args[0].clone();
            let kind = match args.get(1) {
                None => "parameter".to_string(),
                Some(Expr::Path(p)) if p.path.get_ident().is_some() => {
                    p.path.get_ident().map(Ident::to_string).unwrap_or_default()
                }
                Some(other) => return Err(err(other.span(), "the kind of init_fn must be `parameter` or `state`")),
            };
            match kind.as_str() {
                "parameter" => Ok(ValueKind::InitParam(f)),
                "state" => Ok(ValueKind::InitState(f)),
                _ => Err(err(args[1].span(), "the kind of init_fn must be `parameter` or `state`")),
            }
        }
        _ => Ok(ValueKind::Auto(value)),
    }
}

/// A block's source without its braces, dedented; an expression's tokens
/// (for printing).
fn body_text(body: &Expr) -> String {
    let Expr::Block(block) = body else {
        return tokens_text(quote!(#body));
    };
    // A group's span covers the whole group, so its source is at hand.
    let src = block.block.brace_token.span.join().source_text().unwrap_or_else(|| tokens_text(quote!(#block)));
    let s = src.trim();
    let inner = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(s);
    let lines: Vec<&str> = inner.lines().collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let l = if i == 0 { l.trim() } else { l.get(indent..).unwrap_or(l.trim_start()).trim_end() };
        if !(l.is_empty() && (i == 0 || i + 1 == lines.len())) {
            out.push(l.to_string());
        }
    }
    out.join("\n")
}

/// Tokens printed as code: groups by their source, spaces between tokens
/// except around `.`, before `,;?` and calls/indexing, after joint
/// punctuation and unary `&!`.
fn tokens_text(ts: TokenStream2) -> String {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    let mut out = String::new();
    let mut prev: Option<TokenTree> = None;
    for tt in ts {
        let piece = match &tt {
            TokenTree::Group(g) => g.span().source_text().unwrap_or_else(|| {
                let inner = tokens_text(g.stream());
                match g.delimiter() {
                    Delimiter::Parenthesis => format!("({inner})"),
                    Delimiter::Bracket => format!("[{inner}]"),
                    Delimiter::Brace => format!("{{ {inner} }}"),
                    Delimiter::None => inner,
                }
            }),
            other => other.to_string(),
        };
        let space = match (&prev, &tt) {
            (None, _) => false,
            (_, TokenTree::Punct(p)) if matches!(p.as_char(), '.' | ',' | ';' | '?') => false,
            (Some(TokenTree::Punct(p)), _)
                if p.spacing() == Spacing::Joint || matches!(p.as_char(), '.' | '&' | '!') =>
            {
                false
            }
            (Some(TokenTree::Ident(_) | TokenTree::Group(_)), TokenTree::Group(g)) => {
                !matches!(g.delimiter(), Delimiter::Parenthesis | Delimiter::Bracket)
            }
            _ => true,
        };
        if space {
            out.push(' ');
        }
        out.push_str(&piece);
        prev = Some(tt);
    }
    out
}

fn expand(input: Input) -> syn::Result<TokenStream2> {
    if input.items.is_empty() {
        return Err(err(Span::call_site(), "expects at least two expressions: a function and at least one keyword"));
    }
    let mut closure: Option<ExprClosure> = None;
    let mut keywords: Vec<Keyword> = Vec::new();
    let mut name: Option<Expr> = None;
    let mut dispatch: Option<Type> = None;
    for item in input.items {
        match item {
            Expr::Closure(c) => {
                if closure.is_some() {
                    return Err(err(c.span(), "expects one anonymous function"));
                }
                closure = Some(c);
            }
            Expr::Assign(a) => {
                let Expr::Path(p) = &*a.left else {
                    return Err(err(a.left.span(), "expects only keyword arguments"));
                };
                let Some(id) = p.path.get_ident().cloned() else {
                    return Err(err(a.left.span(), "expects only keyword arguments"));
                };
                if id == "name" {
                    name = Some(*a.right);
                } else if id == "dispatch" {
                    let right = &a.right;
                    dispatch = Some(syn::parse2::<Type>(quote!(#right)).map_err(|_| {
                        err(right.span(), "`dispatch` expects a type (a marker the layer's type is parameterised by)")
                    })?);
                } else {
                    if keywords.iter().any(|k| k.name == id) {
                        return Err(err(id.span(), &format!("the keyword `{id}` is given twice")));
                    }
                    keywords.push(Keyword { name: id, kind: classify(*a.right)? });
                }
            }
            // `c` alone is `c = c` (Lux's `@compact(a = 1; c)`).
            Expr::Path(p) if p.path.get_ident().is_some() => {
                let id = p.path.get_ident().cloned().unwrap_or_else(|| format_ident!("_"));
                if keywords.iter().any(|k| k.name == id) {
                    return Err(err(id.span(), &format!("the keyword `{id}` is given twice")));
                }
                keywords.push(Keyword { name: id.clone(), kind: ValueKind::Auto(Expr::Path(p)) });
            }
            other => return Err(err(other.span(), "expects only keyword arguments")),
        }
    }
    let Some(closure) = closure else {
        return Err(err(Span::call_site(), "expects an anonymous function"));
    };
    if keywords.is_empty() {
        return Err(err(Span::call_site(), "expects keyword arguments"));
    }
    let inputs: Vec<&Pat> = closure.inputs.iter().collect();
    if inputs.is_empty() {
        return Err(err(closure.or1_token.span, "expects the input as the function's first argument"));
    }
    if inputs.len() > 2 {
        return Err(err(inputs[2].span(), "expects at most 2 arguments"));
    }

    let rt = quote!(::lux::__private::compact);
    let mixed = Span::mixed_site();
    let values = Ident::new("__values", mixed);
    let (x, ps, st) = (Ident::new("__x", mixed), Ident::new("__ps", mixed), Ident::new("__st", mixed));
    let n = keywords.len();
    let fields: Vec<Ident> = (0..n).map(|i| Ident::new(&format!("__v{i}"), mixed)).collect();
    let params: Vec<Ident> = (0..n).map(|i| Ident::new(&format!("__T{i}"), mixed)).collect();
    let held: Vec<Ident> = (0..n).map(|i| Ident::new(&format!("__held{i}"), mixed)).collect();
    let names: Vec<&Ident> = keywords.iter().map(|k| &k.name).collect();
    let name_strs: Vec<String> = names.iter().map(|n| n.to_string()).collect();

    // Each value, classified and put in its slot.
    let inits = keywords.iter().map(|k| match &k.kind {
        ValueKind::NonTrainable(e) => quote_spanned!(e.span()=> #rt::non_trainable(#e)),
        ValueKind::InitParam(f) => quote_spanned!(f.span()=> #rt::init_param(#f)),
        ValueKind::InitState(f) => quote_spanned!(f.span()=> #rt::init_state(#f)),
        ValueKind::Auto(e) => {
            let w = Ident::new("__w", mixed);
            let mix_check = match e {
                Expr::Tuple(t) if (2..=6).contains(&t.elems.len()) => {
                    let idx = (0..t.elems.len()).map(syn::Index::from);
                    quote_spanned!(t.span()=> #rt::kinds::assert_no_layer_mix((#((&&&&&#rt::Wrap(&#w.0.#idx)).__compact_kind(),)*));)
                }
                _ => quote!(),
            };
            quote_spanned!(e.span()=> {
                let #w = #rt::Wrap(#e);
                #mix_check
                (&&&&&#w).__compact_kind().slot(#w.0)
            })
        }
    });

    let (input_pat, input_ty) = match inputs[0] {
        Pat::Type(pt) => (&*pt.pat, Some(&*pt.ty)),
        other => (other, None),
    };
    let bind_input = match input_ty {
        Some(ty) => quote_spanned!(ty.span()=>
            #[allow(unused_variables)]
            let #input_pat: #ty = <#ty as #rt::FromInput>::from_input(#x)?;
        ),
        None => quote!(#[allow(unused_variables)] let #input_pat: &#rt::Tree = #x;),
    };
    let bind_ps = inputs.get(1).map(|p| quote!(#[allow(unused_variables)] let #p: &#rt::Tree = #ps;));

    let body = &*closure.body;
    let body_block = match body {
        Expr::Block(_) => quote!(#body),
        other => quote!({ #other }),
    };
    let input_text = tokens_text(quote!(#input_pat));
    let body_str = body_text(body);
    let name_arg = match &name {
        Some(e) => quote!(::std::option::Option::Some(::std::string::ToString::to_string(&#e))),
        None => quote!(::std::option::Option::None),
    };
    let dispatch_ty = dispatch.map_or_else(|| quote!(#rt::NoDispatch), |t| quote!(#t));
    let y = Ident::new("__y", mixed);
    let underscores = (0..n).map(|_| quote!(_));

    Ok(quote! {{
        #[allow(unused_imports)]
        use #rt::kinds::{ViaConst as _, ViaLayer as _, ViaLayerList as _, ViaLayerTuple as _, ViaParam as _, ViaState as _};
        struct __CompactValues<#(#params),*> { #(#fields: #params),* }
        impl<#(#params: #rt::Entry),*> #rt::Values for __CompactValues<#(#params),*> {
            fn entries(&self) -> ::std::vec::Vec<(&'static str, &dyn #rt::Entry)> {
                ::std::vec![#((#name_strs, &self.#fields as &dyn #rt::Entry)),*]
            }
        }
        let #values = __CompactValues { #(#fields: #inits),* };
        #rt::CompactLayer::<#dispatch_ty, _, _>::__new(
            #values,
            move |#values: &__CompactValues<#(#underscores),*>, #x: &#rt::Tree, #ps: &#rt::Tree, #st: &#rt::Tree|
                -> #rt::Result<(#rt::Tree, #rt::Tree)> {
                #(let #held = #rt::Slot::hold(&#values.#fields, #name_strs, #ps, #st)?;)*
                #(
                    #[allow(unused_variables, unused_mut)]
                    let mut #names = #rt::Slot::view(&#values.#fields, &#held);
                )*
                #bind_input
                #bind_ps
                #[allow(unreachable_code, clippy::redundant_closure_call, clippy::needless_return)]
                let #y = (|| -> #rt::Result<_> #body_block)();
                let #y = #rt::output(#y?);
                let __st_new = #rt::finish(#st, ::std::vec![
                    #((#name_strs, #rt::Slot::store(&#values.#fields, &#held, #names))),*
                ])?;
                ::std::result::Result::Ok((#y, __st_new))
            },
            #name_arg,
            #input_text,
            #body_str,
        )
    }})
}
