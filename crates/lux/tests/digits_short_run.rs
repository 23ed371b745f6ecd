//! A short training run on the bundled digits through the public API: an
//! MLP with logit cross-entropy on class-index labels, Adam and
//! `single_train_step_mut`; the test accuracy must rise far above chance.

use lux::data::{bundled_digits_path, load_digits};
use lux::prelude::*;

fn accuracy(model: &impl Layer, ts_ps: &Tree, st: &Tree, x: &Tensor, y: &Tensor) -> f64 {
    let (logits, _) = apply_tensor(model, x, ts_ps, &test_mode(st)).unwrap();
    let logits = logits.to_vec::<f32>().unwrap();
    let labels = y.to_vec::<i64>().unwrap();
    let correct = logits
        .chunks(10)
        .zip(&labels)
        .filter(|(row, label)| {
            let best = row.iter().enumerate().fold(0, |b, (i, v)| if *v > row[b] { i } else { b });
            best as i64 == **label
        })
        .count();
    correct as f64 / labels.len() as f64
}

#[test]
fn an_mlp_learns_the_digits_in_a_few_epochs() {
    let (train, test) = load_digits(&bundled_digits_path()).unwrap().split(0.2, 0).unwrap();
    let model =
        Chain::new((Dense::new(64, 64, Activation::Relu).unwrap(), Dense::new(64, 10, Activation::Identity).unwrap()))
            .unwrap();
    let (ps, st) = setup(&mut RngState::seed_from_u64(0), &model).unwrap();
    let mut ts = TrainState::new(model, ps, st, Adam::new(0.01)).unwrap();
    let before = accuracy(ts.model(), ts.parameters(), ts.states(), &test.x, &test.y);
    let loss = CrossEntropyLoss::new().logits(true);
    let mut rng = RngState::seed_from_u64(1);
    for _epoch in 0..3 {
        for (x, y) in train.batches(64, &mut rng).unwrap() {
            single_train_step_mut(&AutoTape, &loss, &(x, y), &mut ts, false).unwrap();
        }
    }
    let after = accuracy(ts.model(), ts.parameters(), ts.states(), &test.x, &test.y);
    eprintln!("test accuracy: {before:.3} before, {after:.3} after 3 epochs");
    // chance is 10 %
    assert!(before < 0.3, "before training: {before}");
    assert!(after > 0.85, "after 3 epochs: {after}");
}
