//! The heat map's colour scale: a viridis-like perceptual colormap from score to sRGB.

/// Control points of the colormap (sRGB, evenly spaced over 0..1): a viridis-like ramp
/// from dark purple through blue and green to yellow, with steadily rising lightness.
const CONTROL: [[f32; 3]; 9] = [
    [68.0, 1.0, 84.0],
    [72.0, 40.0, 120.0],
    [62.0, 73.0, 137.0],
    [49.0, 104.0, 142.0],
    [38.0, 130.0, 142.0],
    [31.0, 158.0, 137.0],
    [53.0, 183.0, 121.0],
    [110.0, 206.0, 88.0],
    [253.0, 231.0, 37.0],
];

/// Colour for missing / non-finite scores (a neutral grey the colormap never produces).
pub const NO_DATA: [u8; 3] = [150, 150, 150];

/// Number of gradient stops the legend needs to follow the colormap exactly: two per
/// segment between control points (interpolating linearly between stops then gives the
/// same colours as [`colormap`]).
pub(super) const LEGEND_STOPS: usize = 2 * (CONTROL.len() - 1);

/// The colormap in floating point (sRGB components 0..255) for `v` clamped to 0..1.
pub(super) fn colormap_f(v: f32) -> [f32; 3] {
    let v = v.clamp(0.0, 1.0);
    let pos = v * (CONTROL.len() - 1) as f32;
    let i = (pos.floor() as usize).min(CONTROL.len() - 2);
    let f = pos - i as f32;
    let (a, b) = (CONTROL[i], CONTROL[i + 1]);
    [
        a[0] + (b[0] - a[0]) * f,
        a[1] + (b[1] - a[1]) * f,
        a[2] + (b[2] - a[2]) * f,
    ]
}

/// sRGB colour of a score: `v` is clamped to 0..1 and interpolated piecewise-linearly
/// between the control points; NaN gives [`NO_DATA`].
pub fn colormap(v: f32) -> [u8; 3] {
    if v.is_nan() {
        return NO_DATA;
    }
    let c = colormap_f(v);
    [c[0].round() as u8, c[1].round() as u8, c[2].round() as u8]
}

/// A colour as SVG writes it: `#rrggbb`.
pub(super) fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}
