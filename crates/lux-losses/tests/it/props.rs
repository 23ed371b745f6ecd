//! Properties of the regression and margin losses over random shapes and
//! options: valid input gives a 0-d mean, anything else an `Err`, never a
//! panic.

use lux_core::{Tensor, broadcast_shapes};
use lux_losses::{
    DiceCoeffLoss, GenericLossFunction, HingeLoss, HuberLoss, LossFunction, MAELoss, MSELoss, MSLELoss, PoissonLoss,
    SiameseContrastiveLoss, SquaredHingeLoss,
};

fn tensor(shape: &[usize], seed: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| 0.1 + 0.8 * (((i + seed) * 7919) % 97) as f64 / 97.0).collect();
    Tensor::from_vec(v, shape).unwrap()
}

proptest::proptest! {
    #[test]
    fn valid_input_gives_a_scalar_and_bad_input_an_error(
        a in proptest::collection::vec(1usize..4, 1..4),
        b in proptest::collection::vec(1usize..4, 0..4),
        option in -1.0f64..2.0,
        nan_option: bool,
    ) {
        let option = if nan_option { f64::NAN } else { option };
        let (p, y) = (tensor(&a, 0), tensor(&b, 3));
        let broadcasts = broadcast_shapes(&a, &b).is_ok();
        let option_ok = option.is_finite() && option >= 0.0;
        let plain: Vec<Box<dyn LossFunction>> = vec![
            Box::new(MSELoss::new()),
            Box::new(MAELoss::new()),
            Box::new(HingeLoss::new()),
            Box::new(SquaredHingeLoss::new()),
            Box::new(GenericLossFunction::new(|p, y| p.sub(y)?.abs())),
        ];
        let optioned: Vec<Box<dyn LossFunction>> = vec![
            Box::new(MSLELoss::new().epsilon(option)),
            Box::new(HuberLoss::new().delta(option)),
            Box::new(PoissonLoss::new().epsilon(option)),
            Box::new(DiceCoeffLoss::new().smooth(option)),
            Box::new(SiameseContrastiveLoss::new().margin(option)),
        ];
        for (losses, valid) in [(&plain, broadcasts), (&optioned, broadcasts && option_ok)] {
            for l in losses.iter() {
                match l.call(&p, &y) {
                    Ok(v) => {
                        proptest::prop_assert!(valid, "{} accepted ŷ {:?}, y {:?}, option {}", l.name(), a, b, option);
                        proptest::prop_assert_eq!(v.shape(), &[] as &[usize], "{}", l.name());
                    }
                    Err(e) => proptest::prop_assert!(!valid, "{} refused valid input {:?}, {:?}, {}: {}", l.name(), a, b, option, e),
                }
            }
        }
    }
}
