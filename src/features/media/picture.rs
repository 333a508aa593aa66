//! What an uploaded file is, judged from its bytes, and the work on its
//! pixels: checking, removing metadata, making smaller copies. Everything
//! here blocks; `media` runs it on blocking threads within a memory budget.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use img_parts::{Bytes, ImageEXIF};

use crate::error::FileProblem;

/// The most pixels an image may have: a 40-megapixel photo decodes to
/// 160 MB. A few bytes can claim 50,000 × 50,000 (a decompression bomb),
/// so this is checked from the header, before anything is decoded.
pub const MAX_PIXELS: u64 = 40_000_000;

/// The widths of the smaller copies, each made only when the image is
/// wider: phones, tablets and laptops, and large screens.
pub const WIDTHS: [u32; 3] = [480, 960, 1920];

/// The formats accepted. Anything else (SVG above all, which can carry
/// script) is refused, whatever its name or declared type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl Format {
    /// The format the bytes start like, if it is one we accept.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match image::guess_format(bytes).ok()? {
            ImageFormat::Jpeg => Some(Self::Jpeg),
            ImageFormat::Png => Some(Self::Png),
            ImageFormat::Gif => Some(Self::Gif),
            ImageFormat::WebP => Some(Self::Webp),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Webp => "webp",
        }
    }

    pub fn from_extension(extension: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::Gif, Self::Webp]
            .into_iter()
            .find(|f| f.extension() == extension)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Gif => ImageFormat::Gif,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

/// An image ready to store: no metadata, upright.
#[derive(Debug)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// The pixels an image of this format claims, from its header alone.
pub fn dimensions(bytes: &[u8]) -> Result<(Format, u32, u32), FileProblem> {
    let format = Format::sniff(bytes).ok_or(FileProblem::UnsupportedType)?;
    let (width, height) = reader(bytes, format)
        .into_dimensions()
        .map_err(|_| FileProblem::Unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(FileProblem::TooManyPixels {
            max_pixels: MAX_PIXELS,
        });
    }
    Ok((format, width, height))
}

fn reader(bytes: &[u8], format: Format) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    reader
}

/// Checks that the whole image decodes (a truncated file does not), turns
/// it upright by its EXIF orientation and removes its metadata (EXIF with
/// GPS positions and camera serials, XMP, comments, text chunks).
///
/// Metadata is removed without decoding where the image is already upright,
/// so a photo is not compressed twice; an image that must be turned is
/// encoded again, which drops all of it. A GIF is kept as it is, animation
/// and all: the format carries no EXIF.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, FileProblem> {
    let (format, width, height) = dimensions(bytes)?;
    let mut decoder = reader(bytes, format)
        .into_decoder()
        .map_err(|_| FileProblem::Unreadable)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|_| FileProblem::Unreadable)?;
    if format == Format::Gif {
        return Ok(Prepared {
            bytes: bytes.to_vec(),
            format,
            width,
            height,
        });
    }
    if orientation != Orientation::NoTransforms {
        image.apply_orientation(orientation);
        return Ok(Prepared {
            bytes: encode(&image, format)?,
            format,
            width: image.width(),
            height: image.height(),
        });
    }
    Ok(Prepared {
        bytes: strip(bytes, format)?,
        format,
        width,
        height,
    })
}

/// The same image without its metadata segments or chunks. Colour profiles
/// stay: they are how the image should look, not about who made it.
fn strip(bytes: &[u8], format: Format) -> Result<Vec<u8>, FileProblem> {
    let input = Bytes::copy_from_slice(bytes);
    let output = match format {
        Format::Jpeg => {
            use img_parts::jpeg::{Jpeg, markers};
            let mut jpeg = Jpeg::from_bytes(input).map_err(|_| FileProblem::Unreadable)?;
            jpeg.segments_mut().retain(|segment| {
                let marker = segment.marker();
                // APP0 (JFIF), APP2 (ICC profile) and APP14 (Adobe colour
                // transform) describe the pixels; APP1 (EXIF, XMP), the other
                // APPn and comments describe the photographer.
                let application = (markers::APP0..=markers::APP15).contains(&marker);
                let describes_pixels =
                    matches!(marker, markers::APP0 | markers::APP2 | markers::APP14);
                marker != markers::COM && (!application || describes_pixels)
            });
            jpeg.encoder().bytes()
        }
        Format::Png => {
            use img_parts::png::Png;
            let mut png = Png::from_bytes(input).map_err(|_| FileProblem::Unreadable)?;
            png.chunks_mut().retain(|chunk| {
                !matches!(
                    &chunk.kind(),
                    b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME"
                )
            });
            png.encoder().bytes()
        }
        Format::Webp => {
            use img_parts::webp::WebP;
            let mut webp = WebP::from_bytes(input).map_err(|_| FileProblem::Unreadable)?;
            webp.remove_chunks_by_id(*b"XMP ");
            // Also fixes the header's flags for the chunks that are left.
            webp.set_exif(None);
            webp.encoder().bytes()
        }
        Format::Gif => input,
    };
    Ok(output.to_vec())
}

/// An upright image encoded again in its own format.
fn encode(image: &DynamicImage, format: Format) -> Result<Vec<u8>, FileProblem> {
    let mut out = Vec::new();
    let written =
        match format {
            Format::Jpeg => image.to_rgb8().write_with_encoder(
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90),
            ),
            Format::Webp => {
                out = webp_bytes(image, 90.0);
                Ok(())
            }
            Format::Png | Format::Gif => {
                image.write_to(&mut Cursor::new(&mut out), format.image_format())
            }
        };
    written.map_err(|e| {
        tracing::warn!(error = %e, "encoding an uploaded image again failed");
        FileProblem::Unreadable
    })?;
    Ok(out)
}

/// Lossy WebP at `quality` (0–100), with transparency when the image has it.
fn webp_bytes(image: &DynamicImage, quality: f32) -> Vec<u8> {
    if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        webp::Encoder::from_rgba(&rgba, rgba.width(), rgba.height())
            .encode(quality)
            .to_vec()
    } else {
        let rgb = image.to_rgb8();
        webp::Encoder::from_rgb(&rgb, rgb.width(), rgb.height())
            .encode(quality)
            .to_vec()
    }
}

/// The widths to make for an image `width` pixels wide: never larger.
pub fn widths_for(format: Format, width: u32) -> impl Iterator<Item = u32> {
    // An animated GIF would lose its animation; any GIF stays as it is.
    let resizable = format != Format::Gif;
    WIDTHS.into_iter().filter(move |w| resizable && *w < width)
}

/// The smaller copies of a stored (upright, checked) image as lossy WebP,
/// widest first, each made from the one before: less work than each from
/// the original, and the quality is the same at these ratios.
pub fn variants(bytes: &[u8], format: Format) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
    let image = reader(bytes, format).decode()?;
    let mut widths: Vec<u32> = widths_for(format, image.width()).collect();
    widths.sort_unstable_by(|a, b| b.cmp(a));
    let mut source = image;
    let mut made = Vec::new();
    for width in widths {
        let height = (u64::from(source.height()) * u64::from(width))
            .div_ceil(u64::from(source.width()))
            .max(1) as u32;
        let smaller = source.resize_exact(width, height, image::imageops::FilterType::CatmullRom);
        made.push((width, webp_bytes(&smaller, 80.0)));
        source = smaller;
    }
    Ok(made)
}

/// How much memory work on an image of these dimensions takes, roughly:
/// the decoded pixels (4 bytes each at most) and the resize's rows of
/// floating-point pixels (16 bytes each, at the full height). Measured:
/// eight 6-megapixel photos at once took 556 MiB when this said 8 bytes.
pub fn memory_needed(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 20
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        DynamicImage::new_rgb8(width, height)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn formats_are_sniffed_from_the_bytes() {
        assert_eq!(Format::sniff(&png(2, 2)), Some(Format::Png));
        assert_eq!(Format::sniff(b"GIF89a...."), Some(Format::Gif));
        assert_eq!(
            Format::sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            None
        );
        assert_eq!(Format::sniff(b"hello, I am a PNG"), None);
    }

    #[test]
    fn truncated_images_are_unreadable() {
        let whole = png(64, 64);
        assert!(prepare(&whole).is_ok());
        assert_eq!(
            prepare(&whole[..whole.len() / 2]).unwrap_err(),
            FileProblem::Unreadable
        );
    }

    #[test]
    fn widths_never_exceed_the_original() {
        assert_eq!(
            widths_for(Format::Jpeg, 1000).collect::<Vec<_>>(),
            [480, 960]
        );
        assert_eq!(widths_for(Format::Png, 480).count(), 0);
        assert_eq!(widths_for(Format::Gif, 4000).count(), 0);
    }

    #[test]
    fn variants_keep_the_aspect_ratio() {
        let made = variants(&png(1000, 500), Format::Png).unwrap();
        let sizes: Vec<(u32, u32)> = made
            .iter()
            .map(|(_, bytes)| {
                let (format, w, h) = dimensions(bytes).unwrap();
                assert_eq!(format, Format::Webp);
                (w, h)
            })
            .collect();
        assert_eq!(sizes, [(960, 480), (480, 240)]);
    }
}
