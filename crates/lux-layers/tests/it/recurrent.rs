//! Tests of the recurrent layers: `check_layer` on every cell and sequence
//! layer, values against a naive f64 recurrence written here from the
//! equations, Lux's `test/recurrent_layers/*.jl` cases translated
//! (batch-first), printing, bad input, and the spiral classifier of Lux's
//! "Training a simple LSTM" tutorial.

use crate::common::randn;
use lux_ad::testing::{LayerCheck, check_layer};
use lux_ad::value_and_gradient;
use lux_core::{DType, Layer, LuxError, RngState, Tensor, Tree, apply, apply_tensor, setup, tree};
use lux_layers::init::Init;
use lux_layers::{
    BidirectionalRNN, GRUCell, LSTMCell, MergeMode, RNNCell, Recurrence, RecurrentCell, SequenceOrdering,
    StatefulRecurrentCell,
};
use lux_ops::Activation;

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

fn to_f64(t: &Tree) -> Tree {
    t.try_map(|_, x| if x.dtype().is_float() { x.to_dtype(DType::F64) } else { Ok(x.clone()) }).unwrap()
}

fn check(layer: &dyn Layer, x: Tree, shape: Option<Vec<usize>>) {
    check_layer(layer, &x, &LayerCheck { output_shape: shape, ..Default::default() })
        .unwrap_or_else(|e| panic!("{}: {e}", layer.describe()));
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

// ----- a naive f64 reference -------------------------------------------------------

fn sigm(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// `W·v + b` for a row-major `[rows, cols]` matrix.
fn affine(w: &[f64], b: Option<&[f64]>, v: &[f64]) -> Vec<f64> {
    let cols = v.len();
    (0..w.len() / cols)
        .map(|r| (0..cols).map(|c| w[r * cols + c] * v[c]).sum::<f64>() + b.map_or(0.0, |b| b[r]))
        .collect()
}

#[derive(Clone, Copy)]
enum Naive {
    Rnn(fn(f64) -> f64),
    Lstm,
    Gru,
}

/// One step of one batch row: the new `(h, c)` (`c` empty unless LSTM).
fn naive_step(kind: Naive, ps: &Tree, x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let get = |k: &str| ps.tensor(k).ok().map(vals);
    let (wih, whh) = (get("weight_ih").unwrap(), get("weight_hh").unwrap());
    let (bih, bhh) = (get("bias_ih"), get("bias_hh"));
    let zx = affine(&wih, bih.as_deref(), x);
    let zh = affine(&whh, bhh.as_deref(), h);
    let o = h.len();
    match kind {
        Naive::Rnn(f) => ((0..o).map(|j| f(zx[j] + zh[j])).collect(), vec![]),
        Naive::Lstm => {
            let g: Vec<f64> = zx.iter().zip(&zh).map(|(a, b)| a + b).collect();
            let c2: Vec<f64> = (0..o).map(|j| sigm(g[o + j]) * c[j] + sigm(g[j]) * g[2 * o + j].tanh()).collect();
            let h2 = (0..o).map(|j| sigm(g[3 * o + j]) * c2[j].tanh()).collect();
            (h2, c2)
        }
        Naive::Gru => {
            let h2 = (0..o)
                .map(|j| {
                    let r = sigm(zx[j] + zh[j]);
                    let z = sigm(zx[o + j] + zh[o + j]);
                    let n = (zx[2 * o + j] + r * zh[2 * o + j]).tanh();
                    (1.0 - z) * n + z * h[j]
                })
                .collect();
            (h2, vec![])
        }
    }
}

/// Every step's output for `x` `[batch, time, in]`, from zero carries.
fn naive_sequence(kind: Naive, ps: &Tree, x: &Tensor, out: usize) -> Vec<Vec<Vec<f64>>> {
    let (b, t, i) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let xv = vals(x);
    (0..b)
        .map(|bi| {
            let (mut h, mut c) = (vec![0.0; out], vec![0.0; out]);
            (0..t)
                .map(|ti| {
                    let xt = &xv[(bi * t + ti) * i..(bi * t + ti + 1) * i];
                    let (h2, c2) = naive_step(kind, ps, xt, &h, &c);
                    h = h2;
                    if matches!(kind, Naive::Lstm) {
                        c = c2;
                    }
                    h.clone()
                })
                .collect()
        })
        .collect()
}

/// `[batch, time, out]` flattened, as the layer lays it out.
fn flatten(seq: &[Vec<Vec<f64>>]) -> Vec<f64> {
    seq.iter().flat_map(|row| row.iter().flatten().copied()).collect()
}

// ----- the cells: check_layer in every call form ----------------------------------

fn cells(use_bias: bool, train_state: bool) -> Vec<Box<dyn Layer>> {
    vec![
        Box::new(RNNCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap()),
        Box::new(
            RNNCell::builder(3, 5)
                .activation(Activation::Identity)
                .use_bias(use_bias)
                .train_state(train_state)
                .build()
                .unwrap(),
        ),
        Box::new(LSTMCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap()),
        Box::new(
            LSTMCell::builder(3, 5).use_bias(use_bias).train_state(train_state).train_memory(true).build().unwrap(),
        ),
        Box::new(GRUCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap()),
    ]
}

#[test]
fn cells_pass_check_layer_on_x_alone_batched_and_unbatched() {
    for use_bias in [true, false] {
        for train_state in [true, false] {
            for cell in cells(use_bias, train_state) {
                check(cell.as_ref(), randn(1, &[2, 3], DType::F32).into(), None);
                check(cell.as_ref(), randn(2, &[3], DType::F32).into(), None);
            }
        }
    }
}

#[test]
fn cells_pass_check_layer_with_a_given_carry() {
    let x = randn(3, &[2, 3], DType::F32);
    let h = randn(4, &[2, 5], DType::F32);
    let c = randn(5, &[2, 5], DType::F32);
    for cell in [&RNNCell::new(3, 5).unwrap() as &dyn Layer, &GRUCell::new(3, 5).unwrap()] {
        check(cell, Tree::seq([Tree::from(&x), Tree::seq([h.clone()])]), None);
    }
    check(&LSTMCell::new(3, 5).unwrap(), Tree::seq([Tree::from(&x), Tree::seq([h.clone(), c.clone()])]), None);
    // unbatched carry
    let x1 = randn(6, &[3], DType::F32);
    let h1 = randn(7, &[5], DType::F32);
    check(&LSTMCell::new(3, 5).unwrap(), Tree::seq([Tree::from(&x1), Tree::seq([h1.clone(), h1.clone()])]), None);
}

#[test]
fn cell_output_is_the_pair_of_output_and_carry() {
    let cell = LSTMCell::new(3, 5).unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &cell).unwrap();
    let x = randn(1, &[2, 3], DType::F32);
    let (out, st2) = apply(&cell, &x, &ps, &st).unwrap();
    assert_eq!(st2, st); // the state is returned unchanged
    let items = out.as_seq().unwrap();
    assert_eq!(items.len(), 2);
    let carry = items[1].as_seq().unwrap();
    assert_eq!(carry.len(), 2);
    assert_eq!(items[0], carry[0]); // y is h′
    assert_eq!(carry[1].as_tensor().unwrap().shape(), &[2, 5]);
    // RNN / GRU carry: (h,)
    for cell in [&RNNCell::new(3, 5).unwrap() as &dyn Layer, &GRUCell::new(3, 5).unwrap()] {
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), cell).unwrap();
        let (out, _) = apply(cell, &x, &ps, &st).unwrap();
        assert_eq!(out.at("1").unwrap().len(), 1);
        assert_eq!(out.at("0").unwrap(), out.at("1.0").unwrap());
    }
}

// ----- values against the naive reference ----------------------------------------

fn value_cases() -> Vec<(Box<dyn RecurrentCellDyn>, Naive)> {
    vec![
        (Box::new(RNNCell::new(3, 4).unwrap()), Naive::Rnn(f64::tanh)),
        (Box::new(RNNCell::builder(3, 4).activation(Activation::Relu).build().unwrap()), Naive::Rnn(|v| v.max(0.0))),
        (Box::new(RNNCell::builder(3, 4).use_bias(false).build().unwrap()), Naive::Rnn(f64::tanh)),
        (Box::new(LSTMCell::new(3, 4).unwrap()), Naive::Lstm),
        (Box::new(LSTMCell::builder(3, 4).use_bias(false).build().unwrap()), Naive::Lstm),
        (Box::new(GRUCell::new(3, 4).unwrap()), Naive::Gru),
        // GRU's default biases are zero: give them values so that they are tested
        (Box::new(GRUCell::builder(3, 4).init_bias(Init::uniform(-0.5, 0.5)).build().unwrap()), Naive::Gru),
    ]
}

/// Object-safe access to a cell inside a `Recurrence`.
trait RecurrentCellDyn {
    fn layer(&self) -> &dyn Layer;
    fn recurrence(&self, seq: bool) -> Box<dyn Layer>;
    fn bidirectional(&self, mode: MergeMode) -> Box<dyn Layer>;
}

impl<C: RecurrentCell + Clone + 'static> RecurrentCellDyn for C {
    fn layer(&self) -> &dyn Layer {
        self
    }
    fn recurrence(&self, seq: bool) -> Box<dyn Layer> {
        Box::new(Recurrence::new(self.clone()).return_sequence(seq))
    }
    fn bidirectional(&self, mode: MergeMode) -> Box<dyn Layer> {
        Box::new(BidirectionalRNN::new(self.clone()).merge_mode(mode))
    }
}

#[test]
fn recurrence_matches_a_naive_f64_recurrence() {
    for (k, (cell, naive)) in value_cases().into_iter().enumerate() {
        let seq = cell.recurrence(true);
        let last = cell.recurrence(false);
        let (ps, st) = setup(&mut RngState::seed_from_u64(k as u64), seq.as_ref()).unwrap();
        let x = randn(100 + k as u64, &[3, 6, 3], DType::F64);
        let want = naive_sequence(naive, &ps, &x, 4);
        // f64 parameters: agreement to rounding
        let ps64 = to_f64(&ps);
        let (ys, _) = apply_tensor(seq.as_ref(), &x, &ps64, &st).unwrap();
        assert_eq!(ys.shape(), &[3, 6, 4]);
        assert_eq!(ys.dtype(), DType::F64);
        assert_close(&vals(&ys), &flatten(&want), 1e-12, &seq.describe());
        let (y, _) = apply_tensor(last.as_ref(), &x, &ps64, &st).unwrap();
        let want_last: Vec<f64> = want.iter().flat_map(|row| row.last().unwrap().clone()).collect();
        assert_close(&vals(&y), &want_last, 1e-12, &last.describe());
        // f32 parameters: the layer computes in f32 (the input is converted)
        let (y32, _) = apply_tensor(last.as_ref(), &x, &ps, &st).unwrap();
        assert_eq!(y32.dtype(), DType::F32);
        assert_close(&vals(&y32), &want_last, 1e-5, &last.describe());
    }
}

#[test]
fn cell_steps_match_the_naive_step_with_a_given_carry() {
    let x = randn(1, &[2, 3], DType::F64);
    let h = randn(2, &[2, 4], DType::F64);
    let c = randn(3, &[2, 4], DType::F64);
    for (k, (cell, naive)) in value_cases().into_iter().enumerate() {
        let layer = cell.layer();
        let ps = to_f64(&setup(&mut RngState::seed_from_u64(k as u64 + 10), layer).unwrap().0);
        let st = setup(&mut RngState::seed_from_u64(0), layer).unwrap().1;
        let carry =
            if matches!(naive, Naive::Lstm) { Tree::seq([h.clone(), c.clone()]) } else { Tree::seq([h.clone()]) };
        let (out, _) = apply(layer, Tree::seq([Tree::from(&x), carry]), &ps, &st).unwrap();
        let (xv, hv, cv) = (vals(&x), vals(&h), vals(&c));
        for b in 0..2 {
            let (h2, c2) = naive_step(naive, &ps, &xv[b * 3..b * 3 + 3], &hv[b * 4..b * 4 + 4], &cv[b * 4..b * 4 + 4]);
            let got_h = vals(out.at("1.0").unwrap().as_tensor().unwrap());
            assert_close(&got_h[b * 4..b * 4 + 4], &h2, 1e-12, &layer.describe());
            if matches!(naive, Naive::Lstm) {
                let got_c = vals(out.at("1.1").unwrap().as_tensor().unwrap());
                assert_close(&got_c[b * 4..b * 4 + 4], &c2, 1e-12, "memory");
            }
        }
    }
}

#[test]
fn lstm_with_hand_set_weights_gives_the_closed_form() {
    // Every weight 0 and every bias b: each gate pre-activation is 2b, so
    // c′ = σ(2b)·c + σ(2b)·tanh(2b) and h′ = σ(2b)·tanh(c′).
    let cell = LSTMCell::builder(2, 1)
        .init_weight(Init::zeros())
        .init_bias(Init::custom("half", |_, s, d| Tensor::full(s, 0.25, d)))
        .build()
        .unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &cell).unwrap();
    let ps = to_f64(&ps);
    let x = Tensor::from_vec(vec![3.0f64, -7.0], &[1, 2]).unwrap();
    let c = Tensor::from_vec(vec![0.8f64], &[1, 1]).unwrap();
    let h = Tensor::from_vec(vec![-0.3f64], &[1, 1]).unwrap();
    let (out, _) = apply(&cell, Tree::seq([Tree::from(&x), Tree::seq([h, c])]), &ps, &st).unwrap();
    let s = sigm(0.5);
    let c2 = s * 0.8 + s * 0.5f64.tanh();
    let h2 = s * c2.tanh();
    assert_close(&vals(out.at("1.1").unwrap().as_tensor().unwrap()), &[c2], 1e-14, "c′");
    assert_close(&vals(out.at("1.0").unwrap().as_tensor().unwrap()), &[h2], 1e-14, "h′");
}

// ----- initialisation ----------------------------------------------------------------

#[test]
fn default_initialisers_are_lux_s() {
    let bound = 1.0 / 5f64.sqrt();
    for cell in [&RNNCell::new(30, 5).unwrap() as &dyn Layer, &LSTMCell::new(30, 5).unwrap()] {
        let (ps, _) = setup(&mut RngState::seed_from_u64(3), cell).unwrap();
        for key in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            let v = vals(ps.tensor(key).unwrap());
            assert_eq!(ps.tensor(key).unwrap().dtype(), DType::F32);
            assert!(v.iter().all(|x| x.abs() <= bound), "{key} outside ±1/√5");
            // uniform on ±b has variance b²/3
            let var = v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64;
            let want = bound * bound / 3.0;
            let se = want * (0.8f64 / v.len() as f64).sqrt() * 2.0;
            assert!((var - want).abs() <= 5.0 * se, "{key}: variance {var} vs {want}");
        }
    }
    // GRU: glorot_uniform per gate block [out, in] (bound √(6/(in+out))), zero biases
    let (ps, _) = setup(&mut RngState::seed_from_u64(4), &GRUCell::new(30, 5).unwrap()).unwrap();
    let w = vals(ps.tensor("weight_ih").unwrap());
    let glorot = (6.0f64 / 35.0).sqrt();
    assert!(w.iter().all(|x| x.abs() <= glorot));
    // glorot on the whole [15, 30] would stay within √(6/45)
    assert!(w.iter().any(|x| x.abs() > (6.0f64 / 45.0).sqrt()), "not glorot per gate block");
    let u = vals(ps.tensor("weight_hh").unwrap());
    assert!(u.iter().all(|x| x.abs() <= (6.0f64 / 10.0).sqrt()));
    assert!(vals(ps.tensor("bias_ih").unwrap()).iter().chain(&vals(ps.tensor("bias_hh").unwrap())).all(|&b| b == 0.0));
}

#[test]
fn parameter_names_shapes_and_counts() {
    let lstm = LSTMCell::builder(3, 5).train_state(true).train_memory(true).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &lstm).unwrap();
    let keys: Vec<&str> = ps.keys().collect();
    assert_eq!(keys, ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "hidden_state", "memory"]);
    assert_eq!(ps.tensor("weight_ih").unwrap().shape(), &[20, 3]);
    assert_eq!(ps.tensor("weight_hh").unwrap().shape(), &[20, 5]);
    assert_eq!(ps.tensor("bias_hh").unwrap().shape(), &[20]);
    assert_eq!(ps.tensor("memory").unwrap().shape(), &[5]);
    assert_eq!(lstm.param_count(), 60 + 100 + 40 + 10);
    assert_eq!(st.keys().collect::<Vec<_>>(), ["rng"]);
    assert_eq!(lstm.state_count(), 1);
    let gru = GRUCell::builder(3, 5).use_bias(false).build().unwrap();
    assert_eq!(gru.param_count(), 45 + 75);
    let rnn = RNNCell::builder(3, 5).train_state(true).build().unwrap();
    assert_eq!(
        setup(&mut RngState::seed_from_u64(0), &rnn).unwrap().0.keys().collect::<Vec<_>>(),
        ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "hidden_state"]
    );
    // Lux's tests: hidden_state is a parameter exactly when train_state is set
    for (train, has) in [(true, true), (false, false)] {
        for cell in cells(true, train) {
            let (ps, _) = setup(&mut RngState::seed_from_u64(0), cell.as_ref()).unwrap();
            assert_eq!(ps.contains_key("hidden_state"), has, "{}", cell.describe());
        }
    }
}

/// Lux's "Trainable hidden states": with the trained hidden state (and
/// memory) at their zero initial values, the carry equals the untrained
/// cell's; and the gradient reaches `hidden_state` / `memory`.
#[test]
fn trainable_hidden_states_start_like_the_zero_carry_and_get_gradients() {
    type Build = fn(bool, bool) -> Box<dyn Layer>;
    let builds: [Build; 3] = [
        |s, _| {
            Box::new(
                RNNCell::builder(3, 5).activation(Activation::Identity).use_bias(false).train_state(s).build().unwrap(),
            )
        },
        |s, m| Box::new(LSTMCell::builder(3, 5).use_bias(false).train_state(s).train_memory(m).build().unwrap()),
        |s, _| Box::new(GRUCell::builder(3, 5).use_bias(false).train_state(s).build().unwrap()),
    ];
    for (k, build) in builds.iter().enumerate() {
        for x_shape in [&[2usize, 3][..], &[3][..]] {
            let x = randn(9, x_shape, DType::F32);
            let plain = build(false, false);
            let (ps0, st0) = setup(&mut RngState::seed_from_u64(1), plain.as_ref()).unwrap();
            let (out0, _) = apply(plain.as_ref(), &x, &ps0, &st0).unwrap();
            let flags: &[(bool, bool)] =
                if k == 1 { &[(true, false), (false, true), (true, true)] } else { &[(true, false)] };
            for &(s, m) in flags {
                let trained = build(s, m);
                let (ps_t, st_t) = setup(&mut RngState::seed_from_u64(2), trained.as_ref()).unwrap();
                let mut ps = ps0.clone();
                for key in ["hidden_state", "memory"] {
                    if let Ok(t) = ps_t.get(key) {
                        ps.insert(key, t.clone()).unwrap();
                    }
                }
                let (out, _) = apply(trained.as_ref(), &x, &ps, &st_t).unwrap();
                assert_eq!(out.at("1").unwrap(), out0.at("1").unwrap(), "{}", trained.describe());
                let g = lux_ad::gradient(
                    |p| apply(trained.as_ref(), &x, p, &st_t)?.0.at("0")?.as_tensor()?.sum_all(),
                    &to_f64(&ps),
                )
                .unwrap();
                for key in ["hidden_state", "memory"] {
                    if let Ok(gk) = g.tensor(key) {
                        assert!(vals(gk).iter().any(|&v| v != 0.0), "{key} gets no gradient");
                    }
                }
            }
        }
    }
}

#[test]
fn random_init_state_is_drawn_from_the_state_rng_and_does_not_advance_it() {
    let cell =
        LSTMCell::builder(2, 3).init_state(Init::normal(0.0, 1.0)).init_memory(Init::normal(5.0, 0.1)).build().unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &cell).unwrap();
    let x = randn(1, &[4, 2], DType::F32);
    let (a, st2) = apply(&cell, &x, &ps, &st).unwrap();
    let (b, _) = apply(&cell, &x, &ps, &st2).unwrap();
    assert_eq!(st2, st);
    assert_eq!(a, b);
    // another rng in the state: another initial carry, so another output
    let st3 = tree! { rng: RngState::seed_from_u64(99) };
    let (c, _) = apply(&cell, &x, &ps, &st3).unwrap();
    assert_ne!(a.at("0").unwrap(), c.at("0").unwrap());
    // memory ~ N(5, 0.1): c′ = σ(f)·c + …, far from the zero-memory result
    let zero = LSTMCell::new(2, 3).unwrap();
    let (z, _) = apply(&zero, &x, &ps, &st).unwrap();
    let diff: f64 = vals(a.at("1.1").unwrap().as_tensor().unwrap())
        .iter()
        .zip(vals(z.at("1.1").unwrap().as_tensor().unwrap()))
        .map(|(p, q)| (p - q).abs())
        .sum();
    assert!(diff > 1.0, "{diff}");
}

// ----- Recurrence ------------------------------------------------------------------

#[test]
fn recurrence_passes_check_layer_in_both_modes_for_every_cell() {
    for use_bias in [true, false] {
        for train_state in [true, false] {
            let cells: Vec<Box<dyn RecurrentCellDyn>> = vec![
                Box::new(RNNCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap()),
                Box::new(LSTMCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap()),
                Box::new(GRUCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap()),
            ];
            for cell in cells {
                let x = randn(1, &[2, 4, 3], DType::F32);
                check(cell.recurrence(false).as_ref(), x.clone().into(), Some(vec![2, 5]));
                check(cell.recurrence(true).as_ref(), x.into(), Some(vec![2, 4, 5]));
            }
        }
    }
}

#[test]
fn recurrence_on_a_sequence_of_tensors_and_time_first() {
    // Lux's recurrence tests: a vector of [batch, features] steps gives the
    // same as the stacked tensor; return_sequence gives one output per step.
    let model = Recurrence::new(LSTMCell::new(3, 5).unwrap());
    let seq_model = model.clone().return_sequence(true);
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    let x = randn(1, &[2, 4, 3], DType::F32);
    let steps: Vec<Tensor> = (0..4).map(|t| x.narrow(1, t, 1).unwrap().squeeze(1).unwrap()).collect();
    let xs = Tree::seq(steps.clone());
    let (y_tensor, _) = apply_tensor(&model, &x, &ps, &st).unwrap();
    let (y_seq, _) = apply_tensor(&model, xs.clone(), &ps, &st).unwrap();
    assert_eq!(y_tensor.shape(), &[2, 5]);
    assert_eq!(y_seq, y_tensor);
    let (ys, _) = apply(&seq_model, xs.clone(), &ps, &st).unwrap();
    let ys = ys.as_seq().unwrap();
    assert_eq!(ys.len(), 4);
    let (stacked, _) = apply_tensor(&seq_model, &x, &ps, &st).unwrap();
    for (t, y) in ys.iter().enumerate() {
        assert_eq!(y.as_tensor().unwrap().shape(), &[2, 5]);
        assert_eq!(y.as_tensor().unwrap(), &stacked.narrow(1, t, 1).unwrap().squeeze(1).unwrap());
    }
    check(&seq_model, xs.clone(), None);
    check(&model, xs, Some(vec![2, 5]));
    // TimeFirst: [time, batch, features] gives the same numbers
    let tf = Recurrence::new(LSTMCell::new(3, 5).unwrap()).return_sequence(true).ordering(SequenceOrdering::TimeFirst);
    let xt = x.permute(&[1, 0, 2]).unwrap().contiguous().unwrap();
    let (yt, _) = apply_tensor(&tf, &xt, &ps, &st).unwrap();
    assert_eq!(yt.shape(), &[4, 2, 5]);
    assert_eq!(yt.permute(&[1, 0, 2]).unwrap().contiguous().unwrap(), stacked);
    check(&tf, xt.into(), Some(vec![4, 2, 5]));
    // an unbatched [time, features] sequence: each row of the batch alone
    let row = x.narrow(0, 1, 1).unwrap().squeeze(0).unwrap();
    let (y_row, _) = apply_tensor(&seq_model, &row, &ps, &st).unwrap();
    assert_eq!(y_row.shape(), &[4, 5]);
    assert_close(&vals(&y_row), &vals(&stacked.narrow(0, 1, 1).unwrap().squeeze(0).unwrap()), 1e-6, "unbatched");
}

#[test]
fn recurrence_with_a_user_cell() {
    /// h′ = h + x (a running sum); carry (h,).
    struct Accumulate;
    impl Layer for Accumulate {
        fn forward(&self, x: &Tree, _: &Tree, st: &Tree) -> lux_core::Result<(Tree, Tree)> {
            let (x, h) = match x {
                Tree::Seq(v) => (v[0].as_tensor()?.clone(), v[1].at("0")?.as_tensor()?.clone()),
                x => (x.as_tensor()?.clone(), x.as_tensor()?.zeros_like()),
            };
            let h = h.add(&x)?;
            Ok((Tree::seq([Tree::from(&h), Tree::seq([h])]), st.clone()))
        }
    }
    impl RecurrentCell for Accumulate {
        fn out_dims(&self) -> usize {
            2
        }
    }
    let model = Recurrence::new(Accumulate).return_sequence(true);
    let x = Tensor::from_vec((1..=6).map(f64::from).collect(), &[1, 3, 2]).unwrap();
    let (y, _) = apply_tensor(&model, &x, &Tree::new(), &Tree::new()).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.0, 2.0, 4.0, 6.0, 9.0, 12.0]);
}

/// Second order through a whole recurrence (the slices' in-place gradient
/// accumulation must leave nested AD intact): a Hessian-vector product
/// against central differences of the gradient.
#[test]
fn hessian_vector_product_through_an_lstm_recurrence() {
    let model = Recurrence::new(LSTMCell::new(2, 3).unwrap());
    let (ps, st) = setup(&mut RngState::seed_from_u64(3), &model).unwrap();
    let x = randn(4, &[2, 5, 2], DType::F64);
    let p = tree! { ps: to_f64(&ps), x: x.clone() };
    let f = |t: &Tree| -> lux_core::Result<Tensor> {
        let (y, _) = apply_tensor(&model, t.tensor("x")?, t.get("ps")?, &st)?;
        y.mul(&y)?.sum_all()
    };
    let v = p.try_map(|path, t| Ok(randn(path.len() as u64 + 50, t.shape(), DType::F64))).unwrap();
    let hv = lux_ad::hvp(f, &p, &v).unwrap();
    let eps = 1e-5;
    let shifted = |s: f64| lux_ad::gradient(f, &p.zip_map(&v, |_, a, b| a.add(&b.mul_scalar(s)?)).unwrap()).unwrap();
    let (gp, gm) = (shifted(eps), shifted(-eps));
    for ((path, h), ((_, a), (_, b))) in hv.tensors().into_iter().zip(gp.tensors().into_iter().zip(gm.tensors())) {
        let fd: Vec<f64> = vals(a).iter().zip(vals(b)).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
        assert_close(&vals(h), &fd, 1e-6, &path);
    }
}

// ----- StatefulRecurrentCell -------------------------------------------------------

#[test]
fn stateful_cell_keeps_its_carry_in_the_state() {
    // Lux's tests: carry starts as nothing, is set after a call, reset by update_state.
    for use_bias in [true, false] {
        for train_state in [true, false] {
            let cells: Vec<Box<dyn Layer>> = vec![
                Box::new(StatefulRecurrentCell::new(
                    RNNCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap(),
                )),
                Box::new(StatefulRecurrentCell::new(
                    LSTMCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap(),
                )),
                Box::new(StatefulRecurrentCell::new(
                    GRUCell::builder(3, 5).use_bias(use_bias).train_state(train_state).build().unwrap(),
                )),
            ];
            for rnn in cells {
                assert!(!rnn.preserves_state_type());
                for x_shape in [&[2usize, 3][..], &[3][..]] {
                    let x = randn(1, x_shape, DType::F32);
                    let (ps, st) = setup(&mut RngState::seed_from_u64(0), rnn.as_ref()).unwrap();
                    assert_eq!(st.get("carry").unwrap(), &Tree::None);
                    let (y, st1) = apply_tensor(rnn.as_ref(), &x, &ps, &st).unwrap();
                    let want: Vec<usize> = if x_shape.len() == 2 { vec![2, 5] } else { vec![5] };
                    assert_eq!(y.shape(), want.as_slice());
                    assert_ne!(st1.get("carry").unwrap(), &Tree::None);
                    // reset (Lux: update_state(st, :carry, nothing)): back to the first call
                    let mut reset = st1.clone();
                    reset.insert("carry", Tree::None).unwrap();
                    assert_eq!(reset, st);
                    assert_eq!(apply_tensor(rnn.as_ref(), &x, &ps, &reset).unwrap().0, y);
                    let (y2, _) = apply_tensor(rnn.as_ref(), &x, &ps, &st1).unwrap();
                    assert_ne!(y2, y);
                    check(rnn.as_ref(), x.clone().into(), Some(want.clone()));
                    // and from a state with a carry in it
                    let stateful_check = StartedFrom(rnn.as_ref(), x.clone());
                    check(&stateful_check, x.into(), Some(want));
                }
            }
        }
    }
}

/// Runs a stateful layer from the state after one call, so that
/// `check_layer` covers calls that continue a carry.
struct StartedFrom<'a>(&'a dyn Layer, Tensor);

impl Layer for StartedFrom<'_> {
    fn init_params(&self, rng: &mut dyn rand::Rng) -> lux_core::Result<Tree> {
        self.0.init_params(rng)
    }
    fn init_state(&self, rng: &mut dyn rand::Rng) -> lux_core::Result<Tree> {
        let mut fork = RngState::from_rng(rng);
        let ps = self.0.init_params(&mut fork.clone())?;
        let st = self.0.init_state(&mut fork)?;
        Ok(self.0.forward(&Tree::from(&self.1), &ps, &st)?.1)
    }
    fn forward(&self, x: &Tree, ps: &Tree, st: &Tree) -> lux_core::Result<(Tree, Tree)> {
        self.0.forward(x, ps, st)
    }
    fn state_count(&self) -> usize {
        self.init_state(&mut RngState::seed_from_u64(lux_core::COUNT_SEED)).unwrap().state_count()
    }
    fn describe(&self) -> String {
        format!("{} (after one call)", self.0.describe())
    }
}

#[test]
fn stateful_cell_steps_equal_a_recurrence() {
    let cell = GRUCell::new(3, 4).unwrap();
    let stateful = StatefulRecurrentCell::new(cell.clone());
    let rec = Recurrence::new(cell);
    let (ps, st) = setup(&mut RngState::seed_from_u64(5), &stateful).unwrap();
    let x = randn(2, &[2, 5, 3], DType::F32);
    let mut st = st;
    let mut y = None;
    for t in 0..5 {
        let (yt, st2) = apply_tensor(&stateful, x.narrow(1, t, 1).unwrap().squeeze(1).unwrap(), &ps, &st).unwrap();
        st = st2;
        y = Some(yt);
    }
    let (want, _) = apply_tensor(&rec, &x, &ps, &st.get("cell").unwrap().clone()).unwrap();
    assert_eq!(y.unwrap(), want);
}

// ----- BidirectionalRNN --------------------------------------------------------------

#[test]
fn bidirectional_shapes_values_and_check_layer() {
    // Lux's tests: merged outputs are [batch, 2·out] per step; unmerged a pair.
    type Build = fn() -> Box<dyn RecurrentCellDyn>;
    let builds: [Build; 3] = [
        || Box::new(RNNCell::new(3, 5).unwrap()),
        || Box::new(LSTMCell::new(3, 5).unwrap()),
        || Box::new(GRUCell::new(3, 5).unwrap()),
    ];
    for build in builds {
        let cell = build();
        let bi = cell.bidirectional(MergeMode::Concat);
        let pair = cell.bidirectional(MergeMode::None);
        let x = randn(4, &[2, 4, 3], DType::F32);
        let (ps, st) = setup(&mut RngState::seed_from_u64(0), bi.as_ref()).unwrap();
        let (y, _) = apply_tensor(bi.as_ref(), &x, &ps, &st).unwrap();
        assert_eq!(y.shape(), &[2, 4, 10]);
        let (yp, _) = apply(pair.as_ref(), &x, &ps, &st).unwrap();
        let (f, b) = (yp.at("0").unwrap().as_tensor().unwrap(), yp.at("1").unwrap().as_tensor().unwrap());
        assert_eq!((f.shape(), b.shape()), (&[2, 4, 5][..], &[2, 4, 5][..]));
        assert_eq!(&Tensor::concat(&[f.clone(), b.clone()], -1).unwrap(), &y);
        // forward half: a Recurrence with the forward parameters
        let (fw, _) = apply_tensor(
            cell.recurrence(true).as_ref(),
            &x,
            ps.get("forward_cell").unwrap(),
            st.get("forward_cell").unwrap(),
        )
        .unwrap();
        assert_eq!(&fw, f);
        // backward half: a Recurrence over the time-reversed input, reversed back
        let (bw, _) = apply_tensor(
            cell.recurrence(true).as_ref(),
            x.flip(&[1]).unwrap(),
            ps.get("backward_cell").unwrap(),
            st.get("backward_cell").unwrap(),
        )
        .unwrap();
        assert_eq!(&bw.flip(&[1]).unwrap(), b);
        assert_ne!(f, b);
        check(bi.as_ref(), x.clone().into(), Some(vec![2, 4, 10]));
        check(pair.as_ref(), x.clone().into(), None);
        check(cell.bidirectional(MergeMode::Add).as_ref(), x.into(), Some(vec![2, 4, 5]));
    }
    // different forward and backward cells, on a sequence of tensors
    let bi = BidirectionalRNN::with_backward(LSTMCell::new(3, 5).unwrap(), GRUCell::new(3, 2).unwrap());
    let xs = Tree::seq((0..3).map(|i| randn(i, &[2, 3], DType::F32)));
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &bi).unwrap();
    let (y, _) = apply(&bi, xs.clone(), &ps, &st).unwrap();
    assert_eq!(y.len(), 3);
    assert_eq!(y.at("2").unwrap().as_tensor().unwrap().shape(), &[2, 7]);
    assert_eq!(
        bi.param_count(),
        LSTMCell::new(3, 5).unwrap().param_count() + GRUCell::new(3, 2).unwrap().param_count()
    );
    check(&bi, xs, None);
}

// ----- printing ------------------------------------------------------------------------

#[test]
fn describe_prints_as_lux() {
    let cases: Vec<(Box<dyn Layer>, &str)> = vec![
        (Box::new(RNNCell::new(3, 5).unwrap()), "RNNCell(3 => 5, tanh)"),
        (Box::new(RNNCell::builder(3, 5).activation(Activation::Identity).build().unwrap()), "RNNCell(3 => 5)"),
        (
            Box::new(
                RNNCell::builder(3, 5)
                    .activation(Activation::Sigmoid)
                    .use_bias(false)
                    .train_state(true)
                    .build()
                    .unwrap(),
            ),
            "RNNCell(3 => 5, σ, use_bias=false, train_state=true)",
        ),
        (Box::new(LSTMCell::new(3, 5).unwrap()), "LSTMCell(3 => 5)"),
        (
            Box::new(LSTMCell::builder(3, 5).use_bias(false).train_memory(true).build().unwrap()),
            "LSTMCell(3 => 5, use_bias=false, train_memory=true)",
        ),
        (Box::new(GRUCell::builder(3, 5).train_state(true).build().unwrap()), "GRUCell(3 => 5, train_state=true)"),
        (Box::new(Recurrence::new(LSTMCell::new(3, 5).unwrap())), "Recurrence(LSTMCell(3 => 5))"),
        (
            Box::new(Recurrence::new(RNNCell::new(2, 4).unwrap()).return_sequence(true)),
            "Recurrence(RNNCell(2 => 4, tanh); return_sequence=true)",
        ),
        (Box::new(StatefulRecurrentCell::new(GRUCell::new(3, 5).unwrap())), "StatefulRecurrentCell(GRUCell(3 => 5))"),
        (
            Box::new(BidirectionalRNN::new(GRUCell::new(3, 5).unwrap()).merge_mode(MergeMode::None)),
            "BidirectionalRNN(GRUCell(3 => 5), GRUCell(3 => 5); merge_mode=nothing)",
        ),
    ];
    for (layer, want) in cases {
        assert_eq!(layer.describe(), want);
    }
}

#[test]
fn display_model_of_an_lstm_recurrence() {
    // Written out by hand from Lux's format: 4·(2·8 + 8·8 + 8 + 8) = 384
    // parameters and the cell's rng as one state; the wrapped cell under
    // its field name, `cell`, as Lux prints it.
    let model = Recurrence::new(LSTMCell::new(2, 8).unwrap());
    let want = "Recurrence(\n    cell = LSTMCell(2 => 8),                      # 384 parameters, plus 1 non-trainable\n)         # Total: 384 parameters,\n          #        plus 1 states.";
    assert_eq!(lux_core::display_model(&model), want);
    let bi = BidirectionalRNN::new(LSTMCell::new(3, 5).unwrap());
    let want = "BidirectionalRNN(\n    forward_cell = LSTMCell(3 => 5),              # 200 parameters, plus 1 non-trainable\n    backward_cell = LSTMCell(3 => 5),             # 200 parameters, plus 1 non-trainable\n)         # Total: 400 parameters,\n          #        plus 2 states.";
    assert_eq!(lux_core::display_model(&bi), want);
}

// ----- bad input ----------------------------------------------------------------------

fn err_of(layer: &dyn Layer, x: Tree) -> LuxError {
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), layer).unwrap();
    layer.forward(&x, &ps, &st).unwrap_err()
}

#[test]
fn bad_inputs_are_errors_naming_the_layer_and_shapes() {
    let lstm = LSTMCell::new(3, 5).unwrap();
    let x = randn(1, &[2, 4], DType::F32);
    assert_eq!(err_of(&lstm, x.clone().into()).to_string(), "LSTMCell(3 => 5): input has 4 features, expected 3");
    assert_eq!(
        err_of(&lstm, randn(1, &[2, 2, 3], DType::F32).into()).to_string(),
        "LSTMCell(3 => 5): input must be [batch, 3] or [3], got shape [2, 2, 3]"
    );
    let x = randn(1, &[2, 3], DType::F32);
    let h_bad = randn(2, &[2, 4], DType::F32);
    let h = randn(2, &[2, 5], DType::F32);
    assert_eq!(
        err_of(&lstm, Tree::seq([Tree::from(&x), Tree::seq([h_bad.clone(), h.clone()])])).to_string(),
        "LSTMCell(3 => 5): hidden state has shape [2, 4], expected [2, 5]"
    );
    assert_eq!(
        err_of(&lstm, Tree::seq([Tree::from(&x), Tree::seq([h.clone(), randn(3, &[3, 5], DType::F32)])])).to_string(),
        "LSTMCell(3 => 5): memory has shape [3, 5], expected [2, 5]"
    );
    assert_eq!(
        err_of(&lstm, Tree::seq([Tree::from(&x), Tree::seq([h.clone()])])).to_string(),
        "structure mismatch at <root>: LSTMCell(3 => 5): the carry must be (h, c), got 1 tensors"
    );
    let gru = GRUCell::new(3, 5).unwrap();
    assert_eq!(
        err_of(&gru, Tree::seq([Tree::from(&x), Tree::from(&h)])).to_string(),
        "structure mismatch at <root>: GRUCell(3 => 5): the carry must be a sequence of 1 tensors, got a tensor"
    );
    let ints = Tensor::from_vec(vec![1i64, 2, 3], &[1, 3]).unwrap();
    assert!(matches!(err_of(&gru, ints.into()), LuxError::DType { .. }));
    // parameters of another layer
    let (lstm_ps, st) = setup(&mut RngState::seed_from_u64(0), &lstm).unwrap();
    assert_eq!(
        gru.forward(&Tree::from(&x), &lstm_ps, &st).unwrap_err().to_string(),
        "GRUCell(3 => 5): parameter weight_ih is a f32 tensor of shape [20, 3], expected a float tensor of shape [15, 3]"
    );
    let nobias = GRUCell::builder(3, 5).use_bias(false).build().unwrap();
    let (ps, _) = setup(&mut RngState::seed_from_u64(0), &nobias).unwrap();
    assert_eq!(gru.forward(&Tree::from(&x), &ps, &st).unwrap_err().to_string(), "missing key `bias_ih` at <root>");
    // sizes
    assert_eq!(
        RNNCell::new(3, 0).unwrap_err().to_string(),
        "RNNCell(3 => 0, tanh): invalid argument: the sizes must be positive, got 3 => 0"
    );
}

#[test]
fn bad_sequences_are_errors() {
    let rec = Recurrence::new(LSTMCell::new(3, 5).unwrap());
    assert_eq!(
        err_of(&rec, randn(1, &[3], DType::F32).into()).to_string(),
        "Recurrence(LSTMCell(3 => 5)): a sequence tensor must be [batch, time, features] (or [time, features]), got shape [3]"
    );
    assert_eq!(
        err_of(&rec, Tree::Seq(vec![])).to_string(),
        "Recurrence(LSTMCell(3 => 5)): the sequence has no time steps"
    );
    assert_eq!(
        err_of(&rec, randn(1, &[2, 0, 3], DType::F32).into()).to_string(),
        "Recurrence(LSTMCell(3 => 5)): the sequence has no time steps"
    );
    assert_eq!(
        err_of(&rec, randn(1, &[2, 4, 7], DType::F32).into()).to_string(),
        "LSTMCell(3 => 5): input has 7 features, expected 3"
    );
    assert!(matches!(err_of(&rec, Tree::Float(1.0)), LuxError::Structure { .. }));
    let bi = BidirectionalRNN::with_backward(LSTMCell::new(3, 5).unwrap(), GRUCell::new(2, 5).unwrap());
    assert_eq!(
        err_of(&bi, randn(1, &[2, 4, 3], DType::F32).into()).to_string(),
        "GRUCell(2 => 5) at backward_cell: input has 3 features, expected 2"
    );
}

// ----- the spiral classifier (Lux's "Training a simple LSTM" tutorial) ----------------

/// `n` spirals of `len` 2-d points, half clockwise (label 0) and half
/// anticlockwise (label 1): radius growing from 0.2 to 1.2 over two turns,
/// a random starting angle and radius scale, plus Gaussian noise. Returns
/// `x` `[n, len, 2]` and labels `[n, 1]`, shuffled.
fn spirals(seed: u64, n: usize, len: usize) -> (Tensor, Tensor) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let normal = move |r: &mut rand::rngs::StdRng| {
        // Box–Muller
        let (u, v): (f64, f64) = (r.random::<f64>().max(1e-12), r.random());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let (mut x, mut y) = (vec![0.0f32; n * len * 2], vec![0.0f32; n]);
    for (slot, &k) in order.iter().enumerate() {
        let anticlockwise = k % 2 == 1;
        let dir = if anticlockwise { 1.0 } else { -1.0 };
        let theta0 = rng.random::<f64>() * 2.0 * std::f64::consts::PI;
        let scale = 0.5 + rng.random::<f64>();
        for t in 0..len {
            let s = t as f64 / (len - 1) as f64;
            let (r, theta) = (scale * (0.2 + s), theta0 + dir * s * 4.0 * std::f64::consts::PI);
            x[(slot * len + t) * 2] = (r * theta.cos() + 0.05 * normal(&mut rng)) as f32;
            x[(slot * len + t) * 2 + 1] = (r * theta.sin() + 0.05 * normal(&mut rng)) as f32;
        }
        y[slot] = if anticlockwise { 1.0 } else { 0.0 };
    }
    (Tensor::from_vec(x, &[n, len, 2]).unwrap(), Tensor::from_vec(y, &[n, 1]).unwrap())
}

/// Runs in about 5 s in the debug test profile (2 shared cores), so it is
/// not restricted to release builds.
#[test]
fn spiral() {
    let (len, hidden) = (50, 8);
    let (x_train, y_train) = spirals(1, 1000, len);
    let (x_test, y_test) = spirals(2, 200, len);
    let lstm = Recurrence::new(LSTMCell::new(2, hidden).unwrap());
    let mut rng = RngState::seed_from_u64(0);
    let (cell_ps, st) = setup(&mut rng, &lstm).unwrap();
    let mut ps = tree! {
        lstm: cell_ps,
        weight: Init::glorot_uniform().init(&mut rng, &[1, hidden], DType::F32).unwrap(),
        bias: Tensor::zeros(&[1], DType::F32).unwrap(),
    };
    // logits = Dense(8 => 1)(LSTM(x)); loss = mean(softplus(z) − y·z) (logit BCE)
    let logits = |ps: &Tree, x: &Tensor| -> lux_core::Result<Tensor> {
        let (h, _) = apply_tensor(&lstm, x, ps.get("lstm")?, &st)?;
        lux_ops::dense(&h, ps.tensor("weight")?, Some(ps.tensor("bias")?), Activation::Identity)
    };
    let loss = |ps: &Tree, x: &Tensor, y: &Tensor| -> lux_core::Result<Tensor> {
        let z = logits(ps, x)?;
        Activation::Softplus.apply(&z)?.sub(&y.mul(&z)?)?.mean_all()
    };
    // Adam(0.01), β = (0.9, 0.999), ε = 1e-8, written out
    let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-8);
    let zeros = ps.try_map(|_, t| Ok(t.zeros_like())).unwrap();
    let (mut m, mut v) = (zeros.clone(), zeros);
    let (batch, n) = (128, x_train.shape()[0]);
    let mut step = 0;
    let mut first_loss = None;
    for _epoch in 0..25 {
        for start in (0..n).step_by(batch) {
            let b = batch.min(n - start);
            let (xb, yb) = (x_train.narrow(0, start, b).unwrap(), y_train.narrow(0, start, b).unwrap());
            let (l, g) = value_and_gradient(|p| loss(p, &xb, &yb), &ps).unwrap();
            first_loss.get_or_insert(l.to_scalar::<f32>().unwrap());
            step += 1;
            let (c1, c2) = (1.0 - f64::powi(b1, step), 1.0 - f64::powi(b2, step));
            m = m.zip_map(&g, |_, m, g| m.mul_scalar(b1)?.add(&g.mul_scalar(1.0 - b1)?)).unwrap();
            v = v.zip_map(&g, |_, v, g| v.mul_scalar(b2)?.add(&g.square()?.mul_scalar(1.0 - b2)?)).unwrap();
            let update = m
                .zip_map(&v, |_, m, v| m.mul_scalar(1.0 / c1)?.div(&v.mul_scalar(1.0 / c2)?.sqrt()?.add_scalar(eps)?))
                .unwrap();
            ps = ps.zip_map(&update, |_, p, u| p.sub(&u.mul_scalar(lr)?)).unwrap();
        }
    }
    let accuracy = |x: &Tensor, y: &Tensor| -> f64 {
        let z = vals(&logits(&ps, x).unwrap());
        let hits = z.iter().zip(vals(y)).filter(|(z, y)| (**z > 0.0) == (*y > 0.5)).count();
        hits as f64 / z.len() as f64
    };
    let (train_acc, test_acc) = (accuracy(&x_train, &y_train), accuracy(&x_test, &y_test));
    let final_loss = loss(&ps, &x_test, &y_test).unwrap().to_scalar::<f32>().unwrap();
    eprintln!("spiral: first loss {first_loss:?}, test loss {final_loss}, train acc {train_acc}, test acc {test_acc}");
    assert!(test_acc >= 0.98, "test accuracy {test_acc} (train {train_acc})");
}

/// Nested AD through a long chain of fused ops (each one's second-order
/// rule runs its own inner gradient call): finished inner calls must not
/// pile up in the record (before the fix, 6 sigmoids gave "a value depends
/// on more than 8 nested gradient calls"). The HVP against central
/// differences of the gradient.
#[test]
fn nested_ad_through_a_deep_chain_of_fused_ops() {
    let p = tree! { x: randn(1, &[3], DType::F64) };
    let v = tree! { x: randn(2, &[3], DType::F64) };
    let f = |t: &Tree| -> lux_core::Result<Tensor> {
        let mut y = t.tensor("x")?.clone();
        for _ in 0..12 {
            // 2σ(2y) − 1 = tanh y, through the fused sigmoid
            y = lux_ops::activation::sigmoid(&y.mul_scalar(2.0)?)?.mul_scalar(2.0)?.add_scalar(-1.0)?;
        }
        y.sum_all()
    };
    let hv = lux_ad::hvp(f, &p, &v).unwrap();
    let eps = 1e-5;
    let shifted = |s: f64| lux_ad::gradient(f, &p.zip_map(&v, |_, a, b| a.add(&b.mul_scalar(s)?)).unwrap()).unwrap();
    let (gp, gm) = (shifted(eps), shifted(-eps));
    let fd: Vec<f64> = vals(gp.tensor("x").unwrap())
        .iter()
        .zip(vals(gm.tensor("x").unwrap()))
        .map(|(a, b)| (a - b) / (2.0 * eps))
        .collect();
    assert!(fd.iter().all(|v| v.abs() > 1e-3), "{fd:?}");
    assert_close(&vals(hv.tensor("x").unwrap()), &fd, 1e-6, "hvp");
}
