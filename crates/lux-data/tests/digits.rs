//! The digits loader: the bundled file, seeded splits and batches, and
//! errors for missing and corrupt files.

use flate2::Compression;
use flate2::write::GzEncoder;
use lux_core::RngState;
use lux_data::{CLASSES, bundled_digits_path, load_digits};
use std::io::Write;
use std::path::PathBuf;

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lux-data-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[test]
fn the_bundled_file_holds_1797_images_of_ten_classes() {
    let d = load_digits(&bundled_digits_path()).unwrap();
    assert_eq!(d.x.shape(), &[1797, 64]);
    let x = d.x.to_vec::<f32>().unwrap();
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // the first image of the file (sklearn's digits[0], a zero), scaled by 1/16
    assert_eq!(&x[..8], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0, 9.0 / 16.0, 1.0 / 16.0, 0.0, 0.0]);
    let y = d.y.to_vec::<i64>().unwrap();
    assert_eq!(&y[..3], &[0, 1, 2]);
    let mut counts = [0usize; CLASSES];
    y.iter().for_each(|&c| counts[c as usize] += 1);
    // scikit-learn documents about 180 samples per class
    assert!(counts.iter().all(|&c| (174..=183).contains(&c)), "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 1797);
    assert_eq!(d.images().unwrap().shape(), &[1797, 1, 8, 8]);
}

#[test]
fn splits_are_seeded_disjoint_and_cover_everything() {
    let d = load_digits(&bundled_digits_path()).unwrap();
    let (train, test) = d.split(0.2, 7).unwrap();
    let (train2, test2) = d.split(0.2, 7).unwrap();
    assert_eq!(
        (train.x.to_vec::<f32>().unwrap(), test.y.to_vec::<i64>().unwrap()),
        (train2.x.to_vec::<f32>().unwrap(), test2.y.to_vec::<i64>().unwrap())
    );
    assert_ne!(d.split(0.2, 8).unwrap().1.y.to_vec::<i64>().unwrap(), test.y.to_vec::<i64>().unwrap());
    assert_eq!((train.len(), test.len()), (1438, 359));
    // every image appears exactly once across the parts (rows compared as bytes)
    let rows = |x: &lux_core::Tensor| -> Vec<Vec<u32>> {
        x.to_vec::<f32>().unwrap().chunks(64).map(|r| r.iter().map(|v| v.to_bits()).collect()).collect()
    };
    let mut all = rows(&train.x);
    all.extend(rows(&test.x));
    let mut original = rows(&d.x);
    all.sort();
    original.sort();
    assert_eq!(all, original);
    assert!(d.split(0.0, 1).is_err() && d.split(1.0, 1).is_err() && d.split(f64::NAN, 1).is_err());
}

#[test]
fn batches_are_seeded_and_cover_the_set_each_epoch() {
    let (train, _) = load_digits(&bundled_digits_path()).unwrap().split(0.2, 1).unwrap();
    let mut rng = RngState::seed_from_u64(3);
    let epoch1 = train.batches(100, &mut rng).unwrap();
    let epoch2 = train.batches(100, &mut rng).unwrap();
    assert_eq!(epoch1.len(), 15);
    assert_eq!(epoch1.last().unwrap().0.shape(), &[38, 64]);
    let labels = |b: &[(lux_core::Tensor, lux_core::Tensor)]| -> Vec<i64> {
        b.iter().flat_map(|(_, y)| y.to_vec::<i64>().unwrap()).collect()
    };
    assert_ne!(labels(&epoch1), labels(&epoch2)); // a new order each epoch
    let mut a = labels(&epoch1);
    let mut b = train.y.to_vec::<i64>().unwrap();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let again = train.batches(100, &mut RngState::seed_from_u64(3)).unwrap();
    assert_eq!(labels(&again), labels(&epoch1));
    assert!(train.batches(0, &mut rng).is_err());
}

#[test]
fn missing_and_corrupt_files_are_errors_naming_the_path_and_line() {
    let missing = std::env::temp_dir().join("no-such-dir-lux/digits.csv.gz");
    let err = load_digits(&missing).unwrap_err().to_string();
    assert!(err.contains("no-such-dir-lux/digits.csv.gz") && err.contains("cannot open"), "{err}");

    let good_line = format!("{},3", vec!["1"; 64].join(","));
    let cases = [
        ("not-gzip.csv.gz", b"plain text".to_vec(), "line 1: cannot read"),
        ("short.csv.gz", gz(&format!("{good_line}\n1,2,3\n")), "line 2: expected 65 comma-separated values, got 3"),
        (
            "nan.csv.gz",
            gz(&format!("{good_line}\n{},x\n", vec!["1"; 64].join(","))),
            "line 2, value 65: `x` is not an integer",
        ),
        (
            "pixel.csv.gz",
            gz(&format!("17,{}\n", vec!["1"; 64].join(","))),
            "line 1, value 1: 17 is out of range 0..=16",
        ),
        (
            "label.csv.gz",
            gz(&format!("{},10\n", vec!["1"; 64].join(","))),
            "line 1, value 65: 10 is out of range 0..=9",
        ),
        ("empty.csv.gz", gz(""), "no samples"),
    ];
    for (name, bytes, msg) in cases {
        let path = temp_file(name, &bytes);
        let err = load_digits(&path).unwrap_err().to_string();
        assert!(err.contains(msg) && err.contains(name), "{name}: {err}");
    }
    let truncated = {
        let full = std::fs::read(bundled_digits_path()).unwrap();
        temp_file("truncated.csv.gz", &full[..full.len() / 2])
    };
    assert!(load_digits(&truncated).is_err());
}
