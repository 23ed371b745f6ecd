//! Printing of models (Lux's `PrettyPrinting`): each expected text is written out by
//! hand from Lux's format (`src/layers/display.jl`): containers as `Name(` … `)`,
//! children indented by four under their names, a function connection as
//! `connection = +,`, parameter counts in a column (`#` at column 50),
//! consecutive identical layers grouped as `layer_(1-2)`, and the total.

use crate::common::{Affine, Counter};
use lux_core::{Layer, display_model};
use lux_layers::{
    BranchLayer, Chain, Connection, Func, NoOpLayer, PairwiseFusion, Parallel, RepeatedLayer, SkipConnection,
};
use lux_ops::Activation;

#[test]
fn nested_chain_prints_as_lux() {
    let model = Chain::new((
        Affine { inp: 2, out: 16 },
        Activation::Relu,
        Chain::new((Affine { inp: 16, out: 16 }, Affine { inp: 16, out: 16 })).unwrap(),
        Affine { inp: 16, out: 1 },
    ))
    .unwrap();
    let want = "\
Chain(
    layer_1 = Affine(2 => 16),                    # 48 parameters
    layer_2 = WrappedFunction(relu),
    layer_3 = Chain(
        layer_(1-2) = Affine(16 => 16),           # 544 (272 x 2) parameters
    ),
    layer_4 = Affine(16 => 1),                    # 17 parameters
)         # Total: 609 parameters,
          #        plus 0 states.";
    assert_eq!(display_model(&model), want);
    // the same model built at run time prints the same
    let boxed: Vec<Box<dyn Layer>> = vec![
        Box::new(Affine { inp: 2, out: 16 }),
        Box::new(Activation::Relu),
        Box::new(Chain::new(vec![Affine { inp: 16, out: 16 }, Affine { inp: 16, out: 16 }]).unwrap()),
        Box::new(Affine { inp: 16, out: 1 }),
    ];
    assert_eq!(display_model(&Chain::new(boxed).unwrap()), want);
}

#[test]
fn named_chain_with_a_display_name_prints_its_names() {
    let model = Chain::named([
        ("encoder", Box::new(Chain::new((Affine { inp: 4, out: 8 }, Activation::Tanh)).unwrap()) as Box<dyn Layer>),
        ("decoder", Box::new(Chain::new((Affine { inp: 8, out: 4 }, Activation::Sigmoid)).unwrap())),
    ])
    .unwrap()
    .with_display_name("AutoEncoder");
    assert_eq!(
        display_model(&model),
        "\
AutoEncoder(
    encoder = Chain(
        layer_1 = Affine(4 => 8),                 # 40 parameters
        layer_2 = WrappedFunction(tanh),
    ),
    decoder = Chain(
        layer_1 = Affine(8 => 4),                 # 36 parameters
        layer_2 = WrappedFunction(σ),
    ),
)         # Total: 76 parameters,
          #        plus 0 states."
    );
}

#[test]
fn parallel_prints_its_connection_first() {
    let model = Parallel::new(
        Func::add(),
        (
            Affine { inp: 3, out: 2 },
            Chain::new((Affine { inp: 3, out: 4 }, Counter, Affine { inp: 4, out: 2 })).unwrap(),
        ),
    )
    .unwrap();
    assert_eq!(
        display_model(&model),
        "\
Parallel(
    connection = +,
    layer_1 = Affine(3 => 2),                     # 8 parameters
    layer_2 = Chain(
        layer_1 = Affine(3 => 4),                 # 16 parameters
        layer_2 = Counter,
        layer_3 = Affine(4 => 2),                 # 10 parameters
    ),
)         # Total: 34 parameters,
          #        plus 1 states."
    );
    // connection = nothing is not shown; identical branches are grouped (Lux's doc example)
    let pair = Parallel::tuple((Affine { inp: 2, out: 1 }, Affine { inp: 2, out: 1 })).unwrap();
    assert_eq!(
        display_model(&pair),
        "\
Parallel(
    layer_(1-2) = Affine(2 => 1),                 # 6 (3 x 2) parameters
)         # Total: 6 parameters,
          #        plus 0 states."
    );
    // a layer connection prints the same way (its parameters nest under `connection`)
    let by_layer = Parallel::new(Connection::layer(Func::vcat()), (Affine { inp: 3, out: 2 }, NoOpLayer)).unwrap();
    assert_eq!(
        display_model(&by_layer),
        "\
Parallel(
    connection = vcat,
    layer_1 = Affine(3 => 2),                     # 8 parameters
    layer_2 = NoOpLayer(),
)         # Total: 8 parameters,
          #        plus 0 states."
    );
}

#[test]
fn skip_connection_prints_connection_then_layers() {
    let model =
        SkipConnection::new(Chain::new((Affine { inp: 4, out: 4 }, Activation::Tanh)).unwrap(), Func::add()).unwrap();
    assert_eq!(
        display_model(&model),
        "\
SkipConnection(
    connection = +,
    layers = Chain(
        layer_1 = Affine(4 => 4),                 # 20 parameters
        layer_2 = WrappedFunction(tanh),
    ),
)         # Total: 20 parameters,
          #        plus 0 states."
    );
    let nested =
        Chain::new((SkipConnection::new(Affine { inp: 4, out: 4 }, Func::vcat()).unwrap(), Affine { inp: 8, out: 2 }))
            .unwrap();
    assert_eq!(
        display_model(&nested),
        "\
Chain(
    layer_1 = SkipConnection(
        connection = vcat,
        layers = Affine(4 => 4),                  # 20 parameters
    ),
    layer_2 = Affine(8 => 2),                     # 18 parameters
)         # Total: 38 parameters,
          #        plus 0 states."
    );
}

#[test]
fn branch_pairwise_and_repeated_print_as_lux() {
    let branch = BranchLayer::new((Affine { inp: 3, out: 2 }, NoOpLayer)).unwrap().with_fusion(Func::vcat());
    assert_eq!(
        display_model(&branch),
        "\
BranchLayer(
    layer_1 = Affine(3 => 2),                     # 8 parameters
    layer_2 = NoOpLayer(),
    fusion = vcat,
)         # Total: 8 parameters,
          #        plus 0 states."
    );
    let fusion = PairwiseFusion::new(Func::add(), (Affine { inp: 1, out: 3 }, Affine { inp: 3, out: 3 })).unwrap();
    assert_eq!(
        display_model(&fusion),
        "\
PairwiseFusion(
    connection = +,
    layer_1 = Affine(1 => 3),                     # 6 parameters
    layer_2 = Affine(3 => 3),                     # 12 parameters
)         # Total: 18 parameters,
          #        plus 0 states."
    );
    let repeated = RepeatedLayer::builder(
        Parallel::new(Func::add(), (Affine { inp: 2, out: 2 }, Affine { inp: 2, out: 2 })).unwrap(),
    )
    .repeats(4)
    .input_injection(true)
    .build()
    .unwrap();
    assert_eq!(
        display_model(&repeated),
        "\
RepeatedLayer{nrepeats = 4, input_injection = true}(
    model = Parallel(
        connection = +,
        layer_(1-2) = Affine(2 => 2),             # 12 (6 x 2) parameters
    ),
)         # Total: 12 parameters,
          #        plus 0 states."
    );
    let simple = RepeatedLayer::new(Affine { inp: 2, out: 2 }).unwrap();
    assert_eq!(
        display_model(&simple),
        "\
RepeatedLayer{nrepeats = 10, input_injection = false}(
    model = Affine(2 => 2),                       # 6 parameters
)         # Total: 6 parameters,
          #        plus 0 states."
    );
}

#[test]
fn dense_models_print_as_lux() {
    use lux_layers::Dense;
    // Lux's Parallel docstring model: Parallel(nothing, Dense(2, 1), Dense(2, 1))
    let model = Parallel::tuple((
        Dense::new(2, 1, Activation::Identity).unwrap(),
        Dense::new(2, 1, Activation::Identity).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        display_model(&model),
        "\
Parallel(
    layer_(1-2) = Dense(2 => 1),                  # 6 (3 x 2) parameters
)         # Total: 6 parameters,
          #        plus 0 states."
    );
    let mlp = Chain::new((
        Dense::new(4, 16, Activation::Tanh).unwrap(),
        SkipConnection::new(Dense::new(16, 16, Activation::Tanh).unwrap(), Func::add()).unwrap(),
        Dense::new(16, 1, Activation::Identity).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        display_model(&mlp),
        "\
Chain(
    layer_1 = Dense(4 => 16, tanh),               # 80 parameters
    layer_2 = SkipConnection(
        connection = +,
        layers = Dense(16 => 16, tanh),           # 272 parameters
    ),
    layer_3 = Dense(16 => 1),                     # 17 parameters
)         # Total: 369 parameters,
          #        plus 0 states."
    );
}
