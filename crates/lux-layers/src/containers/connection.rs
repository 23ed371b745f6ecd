//! Connection functions: [`Func`] and [`Connection`].

use super::*;

type ConnFn = dyn Fn(&[Tree]) -> Result<Tree> + Send + Sync;

/// A named function combining several trees into one: the `connection` of
/// [`SkipConnection`], [`Parallel`], [`PairwiseFusion`] and the `fusion` of
/// [`BranchLayer`] (Lux passes a Julia function such as `+` or `vcat`).
/// It prints as its name (`connection = +,`) and has no parameters.
///
/// As a [`Layer`] it applies the function to the entries of a tuple input
/// (or to the input alone).
///
/// ```
/// use lux_core::{Layer, Tensor, Tree};
/// use lux_layers::Func;
/// let a = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2])?;
/// let b = Tensor::from_vec(vec![10.0f32, 20.0], &[1, 2])?;
/// let sum = Func::add().call(&[a.clone().into(), b.clone().into()])?;
/// assert_eq!(sum.as_tensor()?.to_vec::<f32>()?, vec![11.0, 22.0]);
/// let cat = Func::vcat().call(&[a.into(), b.into()])?;
/// assert_eq!(cat.as_tensor()?.shape(), &[1, 4]);
/// let first = Func::new("first", |xs: &[Tree]| Ok(xs[0].clone()))?;
/// assert_eq!(first.describe(), "first");
/// # Ok::<(), lux_core::LuxError>(())
/// ```
#[derive(Clone)]
pub struct Func {
    name: String,
    f: Arc<ConnFn>,
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Func({})", self.name)
    }
}

impl Func {
    /// A connection computing `f(args)`, printed as `name`.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let count = lux_layers::Func::new("count", |xs: &[Tree]| Ok(Tree::Int(xs.len() as i64)))?;
    /// assert_eq!(count.call(&[Tree::None, Tree::None])?, Tree::Int(2));
    /// assert!(lux_layers::Func::new("", |xs: &[Tree]| Ok(xs[0].clone())).is_err());
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty `name`.
    pub fn new(name: impl Into<String>, f: impl Fn(&[Tree]) -> Result<Tree> + Send + Sync + 'static) -> Result<Func> {
        let name = name.into();
        if name.is_empty() {
            return Err(LuxError::invalid_argument("Func", "the name is empty"));
        }
        Ok(Func { name, f: Arc::new(f) })
    }

    /// A connection of exactly two trees, `f(a, b)` — e.g. a
    /// [`SkipConnection`]'s `(layer(x), x)` — printed as `name`.
    ///
    /// ```
    /// use lux_core::{Tensor, Tree};
    /// let sub = lux_layers::Func::binary("-", |y: &Tree, x: &Tree| Ok(y.as_tensor()?.sub(x.as_tensor()?)?.into()))?;
    /// let (a, b) = (Tensor::from_vec(vec![5.0f32], &[1])?, Tensor::from_vec(vec![2.0f32], &[1])?);
    /// assert_eq!(sub.call(&[a.clone().into(), b.into()])?.as_tensor()?.to_vec::<f32>()?, vec![3.0]);
    /// let err = sub.call(&[a.into()]).unwrap_err();
    /// assert_eq!(err.to_string(), "-: invalid argument: takes 2 arguments, got 1");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// An empty `name`.
    pub fn binary(
        name: impl Into<String>,
        f: impl Fn(&Tree, &Tree) -> Result<Tree> + Send + Sync + 'static,
    ) -> Result<Func> {
        let name = name.into();
        let op = name.clone();
        Func::new(name, move |xs: &[Tree]| match xs {
            [a, b] => f(a, b),
            _ => Err(LuxError::invalid_argument(&op, format!("takes 2 arguments, got {}", xs.len()))),
        })
    }

    /// Julia's `+`: the elementwise sum of tensors of one shape (no
    /// broadcasting, as `+` on Julia arrays). Prints as `+`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let add = lux_layers::Func::add();
    /// let a = Tensor::ones(&[2, 3], DType::F32)?;
    /// let err = add.call(&[a.clone().into(), Tensor::ones(&[2, 1], DType::F32)?.into()]).unwrap_err();
    /// assert_eq!(err.to_string(), "+: shapes [2, 3] and [2, 1] differ");
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn add() -> Func {
        Func {
            name: "+".into(),
            f: Arc::new(|xs: &[Tree]| {
                let tensors = tensor_args("+", xs)?;
                let mut acc = tensors[0].clone();
                for t in &tensors[1..] {
                    if t.shape() != acc.shape() {
                        return Err(LuxError::shape(
                            "+",
                            format!("shapes {:?} and {:?} differ", acc.shape(), t.shape()),
                        ));
                    }
                    acc = acc.add(t)?;
                }
                Ok(acc.into())
            }),
        }
    }

    /// Julia's `vcat` on Lux's column-major arrays, i.e. concatenation
    /// along the **last** axis here (features of `[batch, features]`, the
    /// width of NCHW images). Prints as `vcat`.
    ///
    /// ```
    /// use lux_core::{DType, Tensor};
    /// let y = lux_layers::Func::vcat().call(&[Tensor::ones(&[4, 2], DType::F32)?.into(), Tensor::ones(&[4, 3], DType::F32)?.into()])?;
    /// assert_eq!(y.as_tensor()?.shape(), &[4, 5]);
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    pub fn vcat() -> Func {
        Func {
            name: "vcat".into(),
            f: Arc::new(|xs: &[Tree]| {
                let tensors = tensor_args("vcat", xs)?;
                Tensor::concat(&tensors, -1).map(Tree::from).map_err(|e| match e {
                    LuxError::Shape { msg, .. } => LuxError::Shape { op: "vcat".into(), msg },
                    other => other,
                })
            }),
        }
    }

    /// Calls the function.
    ///
    /// ```
    /// use lux_core::Tree;
    /// let f = lux_layers::Func::new("second", |xs: &[Tree]| Ok(xs[1].clone()))?;
    /// assert_eq!(f.call(&[Tree::Int(1), Tree::Int(2)])?, Tree::Int(2));
    /// # Ok::<(), lux_core::LuxError>(())
    /// ```
    ///
    /// # Errors
    /// Whatever the function returns.
    pub fn call(&self, args: &[Tree]) -> Result<Tree> {
        (self.f)(args)
    }

    /// The name it prints as.
    ///
    /// ```
    /// assert_eq!(lux_layers::Func::add().name(), "+");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The tensors among `xs` (at least one), or an `Err` naming `op`.
fn tensor_args(op: &str, xs: &[Tree]) -> Result<Vec<Tensor>> {
    if xs.is_empty() {
        return Err(LuxError::invalid_argument(op, "needs at least one argument"));
    }
    xs.iter()
        .map(|x| match x {
            Tree::Tensor(t) => Ok(t.clone()),
            other => Err(LuxError::invalid_argument(op, format!("expects tensors, got a {}", other.kind_name()))),
        })
        .collect()
}

impl Layer for Func {
    fn param_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn state_shapes(&self) -> Option<Vec<Vec<usize>>> {
        Some(vec![])
    }
    fn forward(&self, x: &Tree, _ps: &Tree, st: &Tree) -> Result<(Tree, Tree)> {
        let y = match x {
            Tree::Seq(xs) => self.call(xs)?,
            other => self.call(std::slice::from_ref(other))?,
        };
        Ok((y, st.clone()))
    }
    fn display_name(&self) -> String {
        self.name.clone()
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// How a container combines its outputs: a [`Func`] (no parameters, not
/// in the parameter tree) or a layer (with its own parameters and state,
/// under the key `connection`, or `fusion` for [`BranchLayer`]), which
/// receives the outputs as a tuple ([`Tree::Seq`]).
///
/// ```
/// use lux_layers::{Connection, Func, NoOpLayer};
/// let f: Connection = Func::add().into();
/// assert!(matches!(f, Connection::Func(_)));
/// assert!(matches!(Connection::layer(NoOpLayer), Connection::Layer(_)));
/// ```
pub enum Connection {
    /// A function of the outputs.
    Func(Func),
    /// A layer applied to the tuple of outputs.
    Layer(Box<dyn Layer>),
}

impl Connection {
    /// A layer as the connection.
    ///
    /// ```
    /// let c = lux_layers::Connection::layer(lux_layers::NoOpLayer);
    /// assert_eq!(c.as_layer().describe(), "NoOpLayer()");
    /// ```
    pub fn layer(layer: impl Layer + 'static) -> Connection {
        Connection::Layer(Box::new(layer))
    }

    /// The connection as a layer (a [`Func`] is a layer too).
    ///
    /// ```
    /// assert_eq!(lux_layers::Connection::from(lux_layers::Func::vcat()).as_layer().describe(), "vcat");
    /// ```
    pub fn as_layer(&self) -> &dyn Layer {
        match self {
            Connection::Func(f) => f,
            Connection::Layer(l) => &**l,
        }
    }
}

impl From<Func> for Connection {
    fn from(f: Func) -> Self {
        Connection::Func(f)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Func(func) => write!(f, "Connection::Func({})", func.name),
            Connection::Layer(l) => write!(f, "Connection::Layer({})", l.describe()),
        }
    }
}
