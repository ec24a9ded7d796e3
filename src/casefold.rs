//! The case fold of route matching, `s.to_uppercase().to_lowercase()`, in
//! ~4 KB of tables instead of the standard library's ~33 KB (its full
//! upper- and lowercase tables and their code; the Envoy filter is built for
//! size).
//!
//! The standard library maps each character to its uppercase (1-3
//! characters), then each of those to its lowercase, except `Σ`, which
//! becomes `ς` at the end of a word (Unicode's `Final_Sigma`: a cased
//! character before it and none after it, skipping case-ignorable ones) and
//! `σ` elsewhere. So, per character `c` of the input:
//!
//! - [`RUNS`] and [`MULTI`] hold `lower(upper(c))` where it is not `c`;
//! - `Σ`, `σ` and `ς` (the characters whose uppercase is `Σ`, and the only
//!   ones whose uppercase holds it) become `ς` or `σ` by `Final_Sigma`,
//!   judged on the uppercased text: [`CLASSES`] holds whether `upper(c)` is
//!   case-ignorable, cased or neither, as seen from either end.
//!
//! The tables are generated from the standard library of the toolchain that
//! runs `cargo test` (`generate_tables`, ignored: run it with `--ignored
//! --nocapture` and paste its output below); `same_as_std_for_every_char`
//! proves them equal to it for every character and every class a `Σ` can
//! see, so on a toolchain with another Unicode version it fails until they
//! are regenerated.

/// `lower(upper(c)) != c`, one character: `(start << 8 | (len - 1) << 1 |
/// (stride - 1), delta)`: `c = start + k * stride` (`k < len`) maps to
/// `c + delta`. Sorted by start.
static RUNS: [(u32, i32); 201] = [
    (0x4132, 32),
    (0xb500, 775),
    (0xc02c, 32),
    (0xd80c, 32),
    (0x1002f, 1),
    (0x13100, -200),
    (0x13205, 1),
    (0x1390f, 1),
    (0x14a2d, 1),
    (0x17800, -121),
    (0x17905, 1),
    (0x17f00, -268),
    (0x18100, 210),
    (0x18203, 1),
    (0x18600, 206),
    (0x18700, 1),
    (0x18902, 205),
    (0x18b00, 1),
    (0x18e00, 79),
    (0x18f00, 202),
    (0x19000, 203),
    (0x19100, 1),
    (0x19300, 205),
    (0x19400, 207),
    (0x19600, 211),
    (0x19700, 209),
    (0x19800, 1),
    (0x19c00, 211),
    (0x19d00, 213),
    (0x19f00, 214),
    (0x1a005, 1),
    (0x1a600, 218),
    (0x1a700, 1),
    (0x1a900, 218),
    (0x1ac00, 1),
    (0x1ae00, 218),
    (0x1af00, 1),
    (0x1b102, 217),
    (0x1b303, 1),
    (0x1b700, 219),
    (0x1b800, 1),
    (0x1bc00, 1),
    (0x1c400, 2),
    (0x1c500, 1),
    (0x1c700, 2),
    (0x1c800, 1),
    (0x1ca00, 2),
    (0x1cb11, 1),
    (0x1de11, 1),
    (0x1f100, 2),
    (0x1f203, 1),
    (0x1f600, -97),
    (0x1f700, -56),
    (0x1f827, 1),
    (0x22000, -130),
    (0x22211, 1),
    (0x23a00, 10795),
    (0x23b00, 1),
    (0x23d00, -163),
    (0x23e00, 10792),
    (0x24100, 1),
    (0x24300, -195),
    (0x24400, 69),
    (0x24500, 71),
    (0x24609, 1),
    (0x34500, 116),
    (0x37003, 1),
    (0x37600, 1),
    (0x37f00, 116),
    (0x38600, 38),
    (0x38804, 37),
    (0x38c00, 64),
    (0x38e02, 63),
    (0x39120, 32),
    (0x3a310, 32),
    (0x3c200, 1),
    (0x3cf00, 8),
    (0x3d000, -30),
    (0x3d100, -25),
    (0x3d500, -15),
    (0x3d600, -22),
    (0x3d817, 1),
    (0x3f000, -54),
    (0x3f100, -48),
    (0x3f400, -60),
    (0x3f500, -64),
    (0x3f700, 1),
    (0x3f900, -7),
    (0x3fa00, 1),
    (0x3fd04, -130),
    (0x4001e, 80),
    (0x4103e, 32),
    (0x46021, 1),
    (0x48a35, 1),
    (0x4c000, 15),
    (0x4c10d, 1),
    (0x4d05f, 1),
    (0x5314a, 48),
    (0x10a04a, 7264),
    (0x10c700, 7264),
    (0x10cd00, 7264),
    (0x13a09e, 38864),
    (0x13f00a, 8),
    (0x1c8000, -6222),
    (0x1c8100, -6221),
    (0x1c8200, -6212),
    (0x1c8302, -6210),
    (0x1c8500, -6211),
    (0x1c8600, -6204),
    (0x1c8700, -6180),
    (0x1c8800, 35267),
    (0x1c8900, 1),
    (0x1c9054, -3008),
    (0x1cbd04, -3008),
    (0x1e0095, 1),
    (0x1e9b00, -58),
    (0x1e9e00, -7615),
    (0x1ea05f, 1),
    (0x1f080e, -8),
    (0x1f180a, -8),
    (0x1f280e, -8),
    (0x1f380e, -8),
    (0x1f480a, -8),
    (0x1f5907, -8),
    (0x1f680e, -8),
    (0x1fb802, -8),
    (0x1fba02, -74),
    (0x1fbe00, -7173),
    (0x1fc806, -86),
    (0x1fd802, -8),
    (0x1fda02, -100),
    (0x1fe802, -8),
    (0x1fea02, -112),
    (0x1fec00, -7),
    (0x1ff802, -128),
    (0x1ffa02, -126),
    (0x212600, -7517),
    (0x212a00, -8383),
    (0x212b00, -8262),
    (0x213200, 28),
    (0x21601e, 16),
    (0x218300, 1),
    (0x24b632, 26),
    (0x2c005e, 48),
    (0x2c6000, 1),
    (0x2c6200, -10743),
    (0x2c6300, -3814),
    (0x2c6400, -10727),
    (0x2c6705, 1),
    (0x2c6d00, -10780),
    (0x2c6e00, -10749),
    (0x2c6f00, -10783),
    (0x2c7000, -10782),
    (0x2c7200, 1),
    (0x2c7500, 1),
    (0x2c7e02, -10815),
    (0x2c8063, 1),
    (0x2ceb03, 1),
    (0x2cf200, 1),
    (0xa6402d, 1),
    (0xa6801b, 1),
    (0xa7220d, 1),
    (0xa7323d, 1),
    (0xa77903, 1),
    (0xa77d00, -35332),
    (0xa77e09, 1),
    (0xa78b00, 1),
    (0xa78d00, -42280),
    (0xa79003, 1),
    (0xa79613, 1),
    (0xa7aa00, -42308),
    (0xa7ab00, -42319),
    (0xa7ac00, -42315),
    (0xa7ad00, -42305),
    (0xa7ae00, -42308),
    (0xa7b000, -42258),
    (0xa7b100, -42282),
    (0xa7b200, -42261),
    (0xa7b300, 928),
    (0xa7b40f, 1),
    (0xa7c400, -48),
    (0xa7c500, -42307),
    (0xa7c600, -35384),
    (0xa7c703, 1),
    (0xa7cb00, -42343),
    (0xa7cc0f, 1),
    (0xa7dc00, -42561),
    (0xa7f500, 1),
    (0xff2132, 32),
    (0x104004e, 40),
    (0x104b046, 40),
    (0x1057014, 39),
    (0x1057c1c, 39),
    (0x1058c0c, 39),
    (0x1059402, 39),
    (0x10c8064, 64),
    (0x10d502a, 32),
    (0x118a03e, 32),
    (0x16e403e, 32),
    (0x16ea030, 27),
    (0x1e90042, 34),
];

/// `lower(upper(c))` of two or three characters (`0` pads): `(c, [..])`.
/// Sorted by `c`; all in the Basic Multilingual Plane.
static MULTI: [(u16, [u16; 3]); 103] = [
    (0xdf, [0x73, 0x73, 0x0]),
    (0x130, [0x69, 0x307, 0x0]),
    (0x149, [0x2bc, 0x6e, 0x0]),
    (0x1f0, [0x6a, 0x30c, 0x0]),
    (0x390, [0x3b9, 0x308, 0x301]),
    (0x3b0, [0x3c5, 0x308, 0x301]),
    (0x587, [0x565, 0x582, 0x0]),
    (0x1e96, [0x68, 0x331, 0x0]),
    (0x1e97, [0x74, 0x308, 0x0]),
    (0x1e98, [0x77, 0x30a, 0x0]),
    (0x1e99, [0x79, 0x30a, 0x0]),
    (0x1e9a, [0x61, 0x2be, 0x0]),
    (0x1f50, [0x3c5, 0x313, 0x0]),
    (0x1f52, [0x3c5, 0x313, 0x300]),
    (0x1f54, [0x3c5, 0x313, 0x301]),
    (0x1f56, [0x3c5, 0x313, 0x342]),
    (0x1f80, [0x1f00, 0x3b9, 0x0]),
    (0x1f81, [0x1f01, 0x3b9, 0x0]),
    (0x1f82, [0x1f02, 0x3b9, 0x0]),
    (0x1f83, [0x1f03, 0x3b9, 0x0]),
    (0x1f84, [0x1f04, 0x3b9, 0x0]),
    (0x1f85, [0x1f05, 0x3b9, 0x0]),
    (0x1f86, [0x1f06, 0x3b9, 0x0]),
    (0x1f87, [0x1f07, 0x3b9, 0x0]),
    (0x1f88, [0x1f00, 0x3b9, 0x0]),
    (0x1f89, [0x1f01, 0x3b9, 0x0]),
    (0x1f8a, [0x1f02, 0x3b9, 0x0]),
    (0x1f8b, [0x1f03, 0x3b9, 0x0]),
    (0x1f8c, [0x1f04, 0x3b9, 0x0]),
    (0x1f8d, [0x1f05, 0x3b9, 0x0]),
    (0x1f8e, [0x1f06, 0x3b9, 0x0]),
    (0x1f8f, [0x1f07, 0x3b9, 0x0]),
    (0x1f90, [0x1f20, 0x3b9, 0x0]),
    (0x1f91, [0x1f21, 0x3b9, 0x0]),
    (0x1f92, [0x1f22, 0x3b9, 0x0]),
    (0x1f93, [0x1f23, 0x3b9, 0x0]),
    (0x1f94, [0x1f24, 0x3b9, 0x0]),
    (0x1f95, [0x1f25, 0x3b9, 0x0]),
    (0x1f96, [0x1f26, 0x3b9, 0x0]),
    (0x1f97, [0x1f27, 0x3b9, 0x0]),
    (0x1f98, [0x1f20, 0x3b9, 0x0]),
    (0x1f99, [0x1f21, 0x3b9, 0x0]),
    (0x1f9a, [0x1f22, 0x3b9, 0x0]),
    (0x1f9b, [0x1f23, 0x3b9, 0x0]),
    (0x1f9c, [0x1f24, 0x3b9, 0x0]),
    (0x1f9d, [0x1f25, 0x3b9, 0x0]),
    (0x1f9e, [0x1f26, 0x3b9, 0x0]),
    (0x1f9f, [0x1f27, 0x3b9, 0x0]),
    (0x1fa0, [0x1f60, 0x3b9, 0x0]),
    (0x1fa1, [0x1f61, 0x3b9, 0x0]),
    (0x1fa2, [0x1f62, 0x3b9, 0x0]),
    (0x1fa3, [0x1f63, 0x3b9, 0x0]),
    (0x1fa4, [0x1f64, 0x3b9, 0x0]),
    (0x1fa5, [0x1f65, 0x3b9, 0x0]),
    (0x1fa6, [0x1f66, 0x3b9, 0x0]),
    (0x1fa7, [0x1f67, 0x3b9, 0x0]),
    (0x1fa8, [0x1f60, 0x3b9, 0x0]),
    (0x1fa9, [0x1f61, 0x3b9, 0x0]),
    (0x1faa, [0x1f62, 0x3b9, 0x0]),
    (0x1fab, [0x1f63, 0x3b9, 0x0]),
    (0x1fac, [0x1f64, 0x3b9, 0x0]),
    (0x1fad, [0x1f65, 0x3b9, 0x0]),
    (0x1fae, [0x1f66, 0x3b9, 0x0]),
    (0x1faf, [0x1f67, 0x3b9, 0x0]),
    (0x1fb2, [0x1f70, 0x3b9, 0x0]),
    (0x1fb3, [0x3b1, 0x3b9, 0x0]),
    (0x1fb4, [0x3ac, 0x3b9, 0x0]),
    (0x1fb6, [0x3b1, 0x342, 0x0]),
    (0x1fb7, [0x3b1, 0x342, 0x3b9]),
    (0x1fbc, [0x3b1, 0x3b9, 0x0]),
    (0x1fc2, [0x1f74, 0x3b9, 0x0]),
    (0x1fc3, [0x3b7, 0x3b9, 0x0]),
    (0x1fc4, [0x3ae, 0x3b9, 0x0]),
    (0x1fc6, [0x3b7, 0x342, 0x0]),
    (0x1fc7, [0x3b7, 0x342, 0x3b9]),
    (0x1fcc, [0x3b7, 0x3b9, 0x0]),
    (0x1fd2, [0x3b9, 0x308, 0x300]),
    (0x1fd3, [0x3b9, 0x308, 0x301]),
    (0x1fd6, [0x3b9, 0x342, 0x0]),
    (0x1fd7, [0x3b9, 0x308, 0x342]),
    (0x1fe2, [0x3c5, 0x308, 0x300]),
    (0x1fe3, [0x3c5, 0x308, 0x301]),
    (0x1fe4, [0x3c1, 0x313, 0x0]),
    (0x1fe6, [0x3c5, 0x342, 0x0]),
    (0x1fe7, [0x3c5, 0x308, 0x342]),
    (0x1ff2, [0x1f7c, 0x3b9, 0x0]),
    (0x1ff3, [0x3c9, 0x3b9, 0x0]),
    (0x1ff4, [0x3ce, 0x3b9, 0x0]),
    (0x1ff6, [0x3c9, 0x342, 0x0]),
    (0x1ff7, [0x3c9, 0x342, 0x3b9]),
    (0x1ffc, [0x3c9, 0x3b9, 0x0]),
    (0xfb00, [0x66, 0x66, 0x0]),
    (0xfb01, [0x66, 0x69, 0x0]),
    (0xfb02, [0x66, 0x6c, 0x0]),
    (0xfb03, [0x66, 0x66, 0x69]),
    (0xfb04, [0x66, 0x66, 0x6c]),
    (0xfb05, [0x73, 0x74, 0x0]),
    (0xfb06, [0x73, 0x74, 0x0]),
    (0xfb13, [0x574, 0x576, 0x0]),
    (0xfb14, [0x574, 0x565, 0x0]),
    (0xfb15, [0x574, 0x56b, 0x0]),
    (0xfb16, [0x57e, 0x576, 0x0]),
    (0xfb17, [0x574, 0x56d, 0x0]),
];

/// What `upper(c)` is to `Final_Sigma` (the same from either end): from
/// each listed code point on, up to the next: a LEB128 stream of `gap << 2
/// | class` (the gap from the previous boundary; class [`IGNORABLE`],
/// [`CASED`] or [`OTHER`]).
static CLASSES: [u8; 1411] = [
    2, 156, 1, 6, 24, 6, 44, 6, 25, 106, 12, 6, 4, 5, 106, 180, 1, 6, 5, 6, 8, 6, 4, 6, 16, 5, 6,
    4, 10, 5, 6, 21, 94, 5, 126, 5, 142, 6, 5, 18, 17, 194, 6, 9, 104, 213, 4, 4, 169, 1, 16, 9,
    10, 8, 5, 14, 5, 6, 16, 9, 4, 5, 14, 5, 6, 5, 82, 5, 206, 2, 5, 174, 4, 4, 29, 154, 5, 5, 154,
    1, 8, 6, 20, 5, 166, 1, 32, 182, 1, 4, 6, 4, 10, 4, 10, 4, 6, 176, 1, 6, 44, 26, 40, 46, 4, 6,
    140, 1, 6, 40, 86, 64, 6, 148, 3, 34, 4, 42, 4, 18, 132, 1, 6, 4, 6, 120, 110, 236, 2, 46, 232,
    1, 46, 16, 6, 8, 6, 96, 98, 172, 1, 14, 176, 1, 6, 28, 10, 20, 38, 164, 1, 234, 1, 220, 1, 6,
    4, 6, 16, 34, 16, 6, 12, 30, 40, 10, 52, 6, 60, 6, 232, 1, 6, 16, 18, 32, 6, 80, 10, 104, 6, 8,
    10, 228, 1, 6, 16, 10, 16, 10, 8, 14, 12, 6, 120, 10, 12, 6, 44, 10, 228, 1, 6, 16, 22, 4, 10,
    16, 6, 80, 10, 88, 26, 4, 6, 232, 1, 6, 8, 6, 4, 18, 32, 6, 28, 10, 44, 10, 120, 6, 244, 1, 6,
    48, 6, 200, 1, 6, 12, 6, 220, 1, 6, 4, 14, 20, 14, 4, 18, 28, 10, 44, 10, 116, 6, 232, 1, 6, 8,
    6, 24, 6, 20, 10, 80, 10, 112, 10, 228, 1, 10, 16, 18, 32, 6, 80, 10, 116, 6, 160, 2, 6, 28,
    14, 4, 6, 232, 2, 6, 8, 30, 44, 38, 136, 3, 6, 8, 38, 36, 6, 4, 30, 164, 2, 10, 108, 6, 4, 6,
    4, 6, 220, 1, 58, 4, 22, 4, 10, 20, 46, 4, 146, 1, 36, 6, 152, 3, 18, 4, 26, 4, 10, 8, 10, 100,
    10, 16, 14, 64, 18, 52, 6, 8, 10, 24, 6, 60, 6, 9, 154, 1, 5, 6, 21, 6, 9, 174, 1, 4, 5, 14,
    244, 18, 14, 129, 2, 218, 2, 9, 26, 208, 24, 14, 116, 10, 120, 10, 120, 10, 128, 2, 10, 4, 30,
    32, 6, 8, 46, 12, 6, 20, 6, 180, 1, 22, 204, 1, 6, 132, 2, 10, 136, 1, 6, 216, 3, 14, 16, 10,
    36, 6, 24, 14, 236, 6, 10, 8, 6, 232, 1, 6, 4, 30, 4, 6, 4, 6, 8, 34, 24, 42, 8, 6, 156, 1, 6,
    32, 186, 1, 8, 50, 80, 18, 192, 1, 6, 4, 22, 4, 6, 20, 6, 160, 1, 38, 48, 10, 128, 1, 18, 8,
    10, 4, 14, 224, 1, 6, 4, 10, 12, 6, 4, 14, 232, 1, 34, 8, 10, 128, 2, 26, 9, 46, 21, 174, 1, 9,
    14, 64, 14, 4, 54, 4, 30, 16, 6, 24, 6, 12, 10, 25, 176, 1, 253, 1, 52, 5, 136, 1, 149, 3, 218,
    8, 9, 26, 9, 154, 1, 9, 26, 9, 34, 5, 6, 5, 6, 5, 6, 5, 126, 9, 214, 1, 5, 28, 5, 4, 13, 14, 5,
    28, 13, 18, 9, 26, 4, 13, 52, 14, 9, 14, 5, 28, 10, 48, 22, 32, 10, 40, 6, 8, 6, 8, 22, 196, 1,
    22, 4, 42, 4, 6, 52, 6, 64, 54, 204, 1, 134, 1, 69, 6, 17, 6, 9, 42, 5, 6, 13, 22, 25, 6, 5, 6,
    5, 6, 5, 18, 5, 26, 17, 6, 9, 18, 21, 22, 17, 6, 69, 130, 1, 13, 10, 197, 25, 210, 1, 217, 56,
    240, 3, 9, 158, 3, 25, 16, 13, 10, 49, 154, 1, 5, 6, 21, 6, 132, 2, 6, 60, 6, 128, 3, 130, 1,
    188, 1, 6, 212, 14, 6, 144, 1, 18, 12, 22, 20, 6, 244, 2, 26, 244, 2, 14, 216, 248, 6, 6, 136,
    39, 26, 184, 8, 6, 205, 1, 186, 1, 4, 18, 4, 42, 4, 5, 112, 18, 192, 2, 10, 56, 137, 1, 184, 2,
    5, 92, 13, 18, 5, 182, 2, 80, 17, 10, 4, 9, 6, 28, 6, 12, 6, 16, 6, 100, 10, 20, 6, 220, 4, 10,
    104, 74, 52, 6, 152, 1, 34, 100, 46, 184, 1, 14, 192, 1, 6, 8, 18, 8, 10, 68, 6, 84, 10, 136,
    2, 26, 8, 10, 8, 10, 48, 6, 32, 6, 140, 1, 6, 44, 6, 204, 1, 6, 4, 14, 8, 10, 20, 10, 4, 6,
    108, 6, 56, 10, 20, 10, 4, 6, 229, 1, 172, 1, 21, 36, 14, 17, 194, 2, 148, 1, 6, 8, 6, 16, 6,
    201, 248, 4, 30, 49, 22, 24, 6, 204, 4, 70, 244, 17, 66, 12, 6, 48, 66, 136, 1, 6, 8, 6, 164,
    5, 6, 28, 6, 24, 6, 44, 6, 25, 106, 12, 6, 4, 5, 106, 84, 6, 180, 1, 10, 140, 2, 6, 84, 14,
    132, 16, 6, 136, 7, 6, 212, 4, 22, 149, 4, 194, 2, 129, 3, 146, 1, 17, 146, 1, 209, 3, 46, 5,
    62, 5, 30, 5, 10, 5, 46, 5, 62, 5, 30, 5, 10, 140, 14, 26, 4, 170, 1, 4, 38, 152, 18, 14, 4,
    10, 20, 18, 160, 1, 14, 16, 6, 148, 5, 10, 229, 12, 206, 1, 53, 206, 1, 196, 1, 18, 152, 1, 6,
    5, 90, 12, 22, 4, 5, 90, 148, 9, 10, 96, 6, 208, 1, 26, 152, 2, 46, 196, 1, 18, 236, 3, 6, 216,
    1, 62, 164, 1, 6, 8, 10, 40, 14, 196, 1, 18, 8, 10, 8, 6, 16, 6, 40, 6, 200, 1, 14, 144, 1, 22,
    4, 34, 248, 1, 6, 48, 10, 208, 1, 38, 40, 18, 8, 6, 252, 2, 14, 8, 6, 4, 10, 24, 6, 8, 6, 244,
    4, 6, 12, 34, 84, 10, 228, 1, 10, 12, 6, 148, 1, 30, 12, 22, 152, 2, 26, 52, 6, 4, 6, 4, 6, 56,
    10, 212, 2, 34, 8, 14, 4, 6, 92, 6, 208, 2, 26, 4, 6, 16, 10, 4, 10, 184, 7, 18, 24, 10, 4, 10,
    108, 10, 212, 2, 34, 8, 6, 4, 10, 168, 3, 6, 4, 6, 8, 26, 4, 6, 148, 3, 6, 4, 6, 8, 18, 4, 22,
    140, 8, 38, 4, 10, 149, 3, 130, 2, 236, 2, 10, 4, 6, 16, 6, 192, 4, 18, 8, 10, 16, 6, 128, 1,
    42, 160, 1, 26, 8, 18, 32, 6, 36, 26, 8, 14, 184, 1, 54, 4, 10, 152, 6, 6, 4, 14, 4, 6, 164, 6,
    30, 4, 26, 4, 6, 200, 2, 90, 8, 30, 4, 10, 4, 10, 232, 3, 26, 12, 6, 4, 10, 4, 30, 4, 6, 160,
    2, 10, 12, 6, 4, 6, 132, 2, 6, 228, 8, 10, 44, 10, 208, 1, 22, 20, 6, 4, 6, 92, 6, 212, 166, 1,
    70, 24, 62, 160, 230, 2, 50, 12, 14, 128, 78, 22, 236, 1, 30, 36, 18, 240, 15, 14, 160, 1, 10,
    205, 6, 130, 2, 129, 1, 102, 9, 102, 236, 3, 6, 252, 1, 70, 128, 2, 10, 4, 10, 52, 10, 240,
    255, 3, 18, 4, 30, 4, 10, 248, 100, 10, 4, 18, 240, 146, 1, 186, 1, 8, 94, 128, 17, 14, 36, 66,
    8, 30, 120, 18, 208, 4, 14, 237, 13, 214, 2, 5, 158, 2, 5, 10, 9, 6, 9, 10, 9, 18, 5, 50, 5, 6,
    5, 30, 5, 134, 2, 5, 18, 9, 34, 5, 30, 5, 114, 5, 18, 5, 22, 5, 6, 13, 30, 5, 210, 10, 9, 102,
    5, 102, 5, 126, 5, 102, 5, 126, 5, 102, 5, 126, 5, 102, 5, 126, 5, 102, 5, 34, 208, 17, 222, 1,
    16, 202, 1, 32, 6, 56, 6, 88, 22, 4, 62, 193, 34, 42, 5, 82, 25, 26, 212, 6, 30, 4, 70, 8, 30,
    4, 10, 4, 22, 20, 250, 1, 132, 1, 6, 128, 5, 58, 192, 11, 6, 244, 1, 18, 236, 15, 22, 248, 7,
    10, 204, 7, 6, 8, 6, 28, 10, 20, 6, 36, 6, 192, 14, 30, 165, 1, 144, 2, 34, 145, 63, 106, 25,
    106, 25, 106, 196, 19, 22, 132, 224, 192, 1, 6, 120, 130, 3, 128, 4, 194, 7,
];

/// Every 32nd boundary of [`CLASSES`]: `(code point, byte
/// offset of its entry)`, so a lookup decodes at most that many entries.
static CLASS_INDEX: [(u32, u16); 38] = [
    (0x0, 0),
    (0xf7, 34),
    (0x482, 71),
    (0x660, 110),
    (0x8a0, 148),
    (0xa3d, 185),
    (0xb40, 219),
    (0xc82, 254),
    (0xe3b, 290),
    (0x1031, 327),
    (0x135d, 361),
    (0x18a9, 401),
    (0x1ae0, 439),
    (0x1c36, 476),
    (0x1f20, 515),
    (0x1ff2, 549),
    (0x2114, 584),
    (0x2ce5, 621),
    (0xa016, 665),
    (0xa802, 705),
    (0xaa29, 741),
    (0xab30, 776),
    (0xff00, 818),
    (0x104d8, 859),
    (0x10a3f, 897),
    (0x11047, 941),
    (0x111d0, 979),
    (0x113d3, 1016),
    (0x11641, 1052),
    (0x119dc, 1091),
    (0x11ca8, 1129),
    (0x11f41, 1166),
    (0x16fa0, 1211),
    (0x1d455, 1253),
    (0x1d547, 1288),
    (0x1da76, 1324),
    (0x1e2f0, 1363),
    (0xe0100, 1407),
];

const IGNORABLE: u8 = 0;
const CASED: u8 = 1;
const OTHER: u8 = 2;

/// `s.to_uppercase().to_lowercase()`, for every `s`.
pub fn fold(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        // ASCII a run at a time, as the standard library does.
        let ascii = s.as_bytes()[i..]
            .iter()
            .take_while(|b| b.is_ascii())
            .count();
        if ascii > 0 {
            let start = out.len();
            out.push_str(&s[i..i + ascii]);
            out[start..].make_ascii_lowercase();
            i += ascii;
            continue;
        }
        if matches!(c, 'Σ' | 'σ' | 'ς') {
            let word_final =
                cased_next(s[..i].chars().rev()) && !cased_next(s[i + c.len_utf8()..].chars());
            out.push(if word_final { 'ς' } else { 'σ' });
        } else {
            push_fold(c, &mut out);
        }
        i += c.len_utf8();
    }
    out
}

/// `Final_Sigma`'s look to one side: past case-ignorable characters, is the
/// next one cased?
fn cased_next(chars: impl Iterator<Item = char>) -> bool {
    chars.map(class).find(|&k| k != IGNORABLE) == Some(CASED)
}

fn push_fold(c: char, out: &mut String) {
    let cp = c as u32;
    let i = RUNS.partition_point(|&(key, _)| key >> 8 <= cp);
    if i > 0 {
        let (key, delta) = RUNS[i - 1];
        let (start, len, stride) = (key >> 8, ((key >> 1) & 0x7f) + 1, (key & 1) + 1);
        let k = cp - start;
        if k % stride == 0 && k / stride < len {
            if let Some(f) = char::from_u32(cp.wrapping_add_signed(delta)) {
                out.push(f);
                return;
            }
        }
    }
    if let Ok(cp) = u16::try_from(cp) {
        if let Ok(i) = MULTI.binary_search_by_key(&cp, |&(k, _)| k) {
            for &f in MULTI[i].1.iter().take_while(|&&f| f != 0) {
                out.extend(char::from_u32(u32::from(f)));
            }
            return;
        }
    }
    out.push(c);
}

/// The class of `upper(c)` (see [`CLASSES`]).
fn class(c: char) -> u8 {
    let cp = c as u32;
    let chunk = CLASS_INDEX
        .partition_point(|&(at, _)| at <= cp)
        .saturating_sub(1);
    let (mut at, offset) = CLASS_INDEX[chunk];
    let mut i = usize::from(offset);
    let mut class = OTHER;
    let mut first = true;
    while i < CLASSES.len() {
        let mut v = 0u32;
        let mut shift = 0;
        loop {
            let b = CLASSES[i];
            i += 1;
            v |= u32::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        if !first {
            at += v >> 2;
        }
        first = false;
        if at > cp {
            break;
        }
        class = (v & 3) as u8;
    }
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spacing of [`CLASS_INDEX`].
    const INDEX_STEP: usize = 32;

    fn std_fold(s: &str) -> String {
        s.to_uppercase().to_lowercase()
    }

    /// The class of `upper(x)` as the standard library's `Final_Sigma`
    /// sees it: (before a `Σ`, after one).
    fn std_class(x: char) -> (u8, u8) {
        let last = |s: String| s.ends_with('ς');
        let second = |s: String| s.chars().nth(1) == Some('ς');
        // Before: "xΣ" is final iff x is cased; "AxΣ" also when x is ignorable.
        let before = match (
            last(std_fold(&format!("{x}Σ"))),
            last(std_fold(&format!("A{x}Σ"))),
        ) {
            (true, true) => CASED,
            (false, true) => IGNORABLE,
            (false, false) => OTHER,
            (true, false) => panic!("{x:?}: cased but not after A"),
        };
        // After: "AΣx" is not final iff x is cased; "AΣxA" also when x is ignorable.
        let after = match (
            second(std_fold(&format!("AΣ{x}"))),
            second(std_fold(&format!("AΣ{x}A"))),
        ) {
            (false, false) => CASED,
            (true, false) => IGNORABLE,
            (true, true) => OTHER,
            (false, true) => panic!("{x:?}: cased only before A"),
        };
        (before, after)
    }

    fn chars() -> impl Iterator<Item = char> {
        (0..=0x10ffff).filter_map(char::from_u32)
    }

    #[test]
    fn same_as_std_for_every_char() {
        let mut buf = [0u8; 4];
        for c in chars() {
            let s = c.encode_utf8(&mut buf);
            assert_eq!(fold(s), std_fold(s), "{c:?} (U+{:04X})", c as u32);
            // Only these uppercase to a Σ (and to it alone), so no other
            // character's fold depends on its neighbours.
            let upper: String = c.to_uppercase().collect();
            if matches!(c, 'Σ' | 'σ' | 'ς') {
                assert_eq!(upper, "Σ");
            } else {
                assert!(!upper.contains('Σ'), "{c:?}");
            }
            let (before, after) = std_class(c);
            assert_eq!(class(c), before, "{c:?} (U+{:04X}) before a Σ", c as u32);
            assert_eq!(class(c), after, "{c:?} (U+{:04X}) after a Σ", c as u32);
            // And through fold itself, on either side of each sigma.
            for sigma in ['Σ', 'σ', 'ς'] {
                for t in [
                    format!("{c}{sigma}"),
                    format!("A{c}{sigma}"),
                    format!("A{sigma}{c}"),
                    format!("A{sigma}{c}A"),
                ] {
                    // (Every class is proven above; through fold, a sample.)
                    if c as u32 % 7 == 0 || class(c) != OTHER {
                        assert_eq!(fold(&t), std_fold(&t), "{t:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_as_std_for_mixed_text() {
        // Multi-character folds, sigmas in runs, ignorables between, ASCII.
        let pieces = [
            "A",
            "a",
            "Σ",
            "σ",
            "ς",
            "'",
            "\u{300}",
            "\u{345}",
            "ß",
            "ﬃ",
            "İ",
            "ΐ",
            "ᾼ",
            "\u{212A}",
            "ſ",
            "1",
            "-",
            "ǅ",
            "ᏸ",
            "Ꭰ",
            "\u{1E921}",
            "\u{10400}",
            " ",
            "ʼ",
            ".",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut r = seed;
            for _ in 0..(r % 9) {
                r /= 9;
                s.push_str(pieces[(r % pieces.len() as u64) as usize]);
                r /= pieces.len() as u64;
                if r == 0 {
                    r = seed.rotate_left(29);
                }
            }
            assert_eq!(fold(&s), std_fold(&s), "{s:?}");
        }
    }

    /// Prints the tables above from this toolchain's standard library.
    #[test]
    #[ignore]
    fn generate_tables() {
        let mut single = Vec::new();
        let mut multi = Vec::new();
        let mut buf = [0u8; 4];
        for c in chars() {
            let f: Vec<char> = std_fold(c.encode_utf8(&mut buf)).chars().collect();
            match f[..] {
                [f] if f == c => {}
                [f] => single.push((c as u32, f as u32)),
                _ => multi.push((c as u32, f)),
            }
        }
        let mut runs = Vec::new();
        let mut i = 0;
        while i < single.len() {
            let (start, to) = single[i];
            let delta = i64::from(to) - i64::from(start);
            let run = |stride: u32| {
                let mut n = 1;
                while i + n < single.len()
                    && n < 128
                    && single[i + n].0 == start + n as u32 * stride
                    && i64::from(single[i + n].1) - i64::from(single[i + n].0) == delta
                {
                    n += 1;
                }
                n
            };
            let (n1, n2) = (run(1), run(2));
            let (len, stride) = if n1 >= n2 { (n1, 1) } else { (n2, 2) };
            runs.push((start, len as u32, stride, delta));
            i += len;
        }
        let mut classes = Vec::new();
        let mut index = Vec::new();
        let (mut last, mut prev, mut count) = (0u32, u8::MAX, 0usize);
        for c in chars() {
            let (k, after) = std_class(c);
            assert_eq!(k, after, "{c:?}");
            if k == prev {
                continue;
            }
            if count % INDEX_STEP == 0 {
                index.push((c as u32, classes.len()));
            }
            let mut v = (c as u32 - last) << 2 | u32::from(k);
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    classes.push(b);
                    break;
                }
                classes.push(b | 0x80);
            }
            (last, prev, count) = (c as u32, k, count + 1);
        }
        let mut out = format!("const RUNS: [(u32, i32); {}] = [\n", runs.len());
        for (start, len, stride, delta) in runs {
            let key = start << 8 | (len - 1) << 1 | (stride - 1);
            out += &format!("    (0x{key:x}, {delta}),\n");
        }
        out += &format!(
            "];\n\nconst MULTI: [(u16, [u16; 3]); {}] = [\n",
            multi.len()
        );
        for (c, f) in multi {
            assert!(c <= 0xffff && f.len() <= 3);
            let mut a = [0u32; 3];
            for (i, f) in f.into_iter().enumerate() {
                assert!(f as u32 <= 0xffff && f != '\0');
                a[i] = f as u32;
            }
            out += &format!(
                "    (0x{c:x}, [0x{:x}, 0x{:x}, 0x{:x}]),\n",
                a[0], a[1], a[2]
            );
        }
        out += &format!("];\n\nconst CLASSES: [u8; {}] = [\n", classes.len());
        for line in classes.chunks(16) {
            let line: Vec<String> = line.iter().map(|b| b.to_string()).collect();
            out += &format!("    {},\n", line.join(", "));
        }
        out += &format!(
            "];\n\nconst CLASS_INDEX: [(u32, u16); {}] = [\n",
            index.len()
        );
        for (c, offset) in index {
            out += &format!("    (0x{c:x}, {offset}),\n");
        }
        out += &format!("];\n// Unicode {:?}\n", char::UNICODE_VERSION);
        println!("{out}");
    }
}
