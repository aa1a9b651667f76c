//! The PNG: the SVG drawing rendered to pixels by `resvg`, with the system's fonts.

use std::sync::{Arc, OnceLock};

use resvg::tiny_skia;
use resvg::usvg::{self, fontdb};

use super::svg::FONT_FAMILIES;
use crate::error::{Error, Result};

/// The system's fonts, loaded once per process (scanning the font folders takes time),
/// with the generic `monospace` family pointed at a font that exists (see
/// [`choose_monospace`]). Empty when the system has no fonts; [`render`] then refuses.
pub(super) fn system_fonts() -> Arc<fontdb::Database> {
    static FONTS: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = fontdb::Database::new();
            db.load_system_fonts();
            choose_monospace(&mut db);
            Arc::new(db)
        })
        .clone()
}

/// When none of the families the drawing asks for ([`FONT_FAMILIES`]) is in `db`, makes
/// `monospace` (the last of them) mean the first monospaced face of `db`, or else its
/// first face of any kind, so that labels are drawn in some font rather than left out.
pub(super) fn choose_monospace(db: &mut fontdb::Database) {
    let names: Vec<&str> = FONT_FAMILIES.split(',').map(str::trim).collect();
    let families: Vec<fontdb::Family> = names
        .iter()
        .map(|&n| match n {
            "monospace" => fontdb::Family::Monospace,
            n => fontdb::Family::Name(n),
        })
        .collect();
    let query = fontdb::Query {
        families: &families,
        ..fontdb::Query::default()
    };
    if db.query(&query).is_some() {
        return;
    }
    let pick = db
        .faces()
        .find(|f| f.monospaced)
        .or_else(|| db.faces().next())
        .and_then(|f| f.families.first())
        .map(|(name, _)| name.clone());
    if let Some(name) = pick {
        db.set_monospace_family(name);
    }
}

/// Renders the SVG document `svg` at its own size and encodes it as an 8-bit RGB PNG.
///
/// # Errors
/// [`Error::Output`] when `fonts` is empty (the labels would be missing), when `svg` does
/// not parse, or when the image is too large to render.
pub(super) fn render(svg: &str, fonts: &Arc<fontdb::Database>) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Output {
        what: "timeline PNG".to_string(),
        reason,
    };
    if fonts.is_empty() {
        return Err(fail(
            "no fonts found for its labels in the system's font folders (e.g. \
             /usr/share/fonts); install one (Debian/Ubuntu: fonts-dejavu-core) or write \
             the timeline as .svg"
                .to_string(),
        ));
    }
    let opt = usvg::Options {
        fontdb: Arc::clone(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt)
        .map_err(|e| fail(format!("cannot read the drawing: {e}")))?;
    let size = tree.size().to_int_size();
    let (w, h) = (size.width(), size.height());
    let mut pixmap = tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| fail(format!("image too large to render ({w}x{h})")))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    // The drawing has an opaque background, so dropping alpha loses nothing.
    let rgb: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue()]
        })
        .collect();
    encode_rgb(w, h, &rgb).map_err(|e| fail(e.to_string()))
}

/// `rgb` (`w`×`h` pixels, 3 bytes each, row by row) as PNG file bytes.
fn encode_rgb(w: u32, h: u32, rgb: &[u8]) -> std::result::Result<Vec<u8>, ::png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, w, h);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}
